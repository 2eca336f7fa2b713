#!/bin/sh
# Where the module learns KVM's private layout, and that it refuses what disagrees:
# - by default from the kernel's BTF (and, where we verified the line, equal to the table);
# - module parameters that contradict BTF, a truncated kvm BTF, a BTF without struct
#   kvm_page_fault, and incomplete parameters: insmod fails with one line saying why;
# - BTF that cannot be read: the verified table (refused on a kernel the table does not
#   have); BTF switched off with every parameter
#   given: the parameters (and, where KVM has the in-place huge-page recovery, a
#   recovery hook left out is refused).
# Runs while the module is not loaded; leaves it unloaded.
. /tests/lib.sh
module_loaded && fail "kvm_userfault is already loaded"

# try ARGS...: insmod with module parameters; $rc, and $msg: the layout line if it
# loaded, else the module's last log line (why it refused).
try() {
	dmesg -c >/dev/null
	insmod "$KVMUF_MODULE" "$@" 2>/dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		msg=$(dmesg | grep 'kvm_userfault: KVM layout' | sed 's/^\[[^]]*\] //')
		unload_module || fail "rmmod after insmod $* failed"
	else
		msg=$(dmesg | grep 'kvm_userfault: ' | tail -n 1 | sed 's/^\[[^]]*\] //')
	fi
}
refused() { # refused WHAT EXPECTED-TEXT ARGS...
	local what=$1 text=$2
	shift 2
	try "$@"
	[ $rc -ne 0 ] || fail "$what: loaded ($msg)"
	case "$msg" in *"$text"*) ;; *) fail "$what: refused without saying why: '$msg'" ;; esac
	echo "  $what: $msg"
}
loaded() { # loaded WHAT EXPECTED-TEXT ARGS...
	local what=$1 text=$2
	shift 2
	try "$@"
	[ $rc -eq 0 ] || fail "$what: insmod failed: '$msg'"
	case "$msg" in *"$text"*) ;; *) fail "$what: '$msg' does not say '$text'" ;; esac
	echo "  $what: $msg"
}

loaded "default" "KVM layout from BTF"
layout=$msg
val() { echo "$layout" | sed -n "s/.* $1 \([0-9]*\).*/\1/p"; }
ec=$(val error_code) pf=$(val prefetch) ml=$(val max_level) gfn=$(val gfn) slot=$(val slot)
hooks=$(echo "$layout" | sed -n 's/.*; hooks \([a-z_]*\), \([a-z_]*\)$/\1 \2/p')
hook=${hooks% *} recover=${hooks#* }
[ -n "$ec" ] && [ -n "$gfn" ] && [ -n "$slot" ] && [ -n "$hook" ] ||
	fail "cannot read the layout line: '$layout'"

refused "a parameter contradicting BTF" "contradict the kernel's BTF (fault_gfn" \
	fault_gfn=$((gfn + 8))
head -c 3000 /sys/kernel/btf/kvm >/tmp/kvm-cut.btf
refused "kvm BTF cut short" "does not match what this module needs" btf_kvm=/tmp/kvm-cut.btf
refused "a BTF without struct kvm_page_fault" "no struct kvm_page_fault" \
	btf_kvm=/sys/kernel/btf/vmlinux
refused "BTF off, parameters incomplete" "parameters are incomplete" use_btf=0 fault_gfn=$gfn
case "$layout" in
*"as the verified table"*)
	loaded "BTF unreadable" "from the verified table (no BTF)" btf_kvm=/nonexistent ;;
*)	refused "BTF unreadable, a kernel not in the table" "is not in the verified table" \
		btf_kvm=/nonexistent ;;
esac
loaded "BTF off, every parameter" "from module parameters" use_btf=0 fault_error_code=$ec \
	fault_prefetch=$pf fault_max_level=$ml fault_gfn=$gfn fault_slot=$slot \
	hook_symbol=$hook recover_symbol=$recover
if [ "$recover" != none ]; then
	refused "the recovery function left unhooked" "nothing named it for hooking" use_btf=0 \
		fault_error_code=$ec fault_prefetch=$pf fault_max_level=$ml fault_gfn=$gfn \
		fault_slot=$slot hook_symbol=$hook recover_symbol=none
fi
module_loaded && fail "module left loaded"
echo "ok: layout from BTF ($ec/$pf/$ml/$gfn/$slot, $hook, $recover); every disagreement refused with a reason"
