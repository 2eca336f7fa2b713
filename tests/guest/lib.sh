# Sourced by the in-guest shell tests (busybox sh).
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

module_loaded() { [ -d /sys/module/kvm_userfault ]; }

# A misc device appears in devtmpfs asynchronously after misc_register().
wait_for_node() {
	local i=0
	while [ ! -c "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -c "$1" ]
}

# start_nbdkit SOCKET FILE MS: nbdkit serving FILE (a snapshot) on the unix socket SOCKET in
# the background, MS milliseconds per read (0: no delay filter; the filter takes whole ms);
# its pid in $npid, its output in SOCKET.out. Fails unless it listens within 5 s.
start_nbdkit() {
	local sock=$1 file=$2 ms=$3 i=0
	if [ "$ms" = 0 ]; then
		nbdkit -f -U "$sock" file "$file" >"$sock.out" 2>&1 &
	else
		nbdkit -f -U "$sock" --filter=delay file "$file" rdelay="${ms}ms" >"$sock.out" 2>&1 &
	fi
	npid=$!
	while [ ! -S "$sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$sock" ] || { sed 's/^/    nbdkit: /' "$sock.out"; fail "nbdkit ($ms ms per read) did not start"; }
}

# rmmod, giving the module's reaper (1 s period) time to free the state of VMs that were
# closed with GFNs still missing; refused while a VM still uses it.
unload_module() {
	local i=0
	while ! rmmod kvm_userfault 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 30 ] || { rmmod kvm_userfault; return 1; }
		sleep 0.1
	done
}

# emit_file NAME PATH: send a file to the host through the console (the guest has no
# other channel); tests/vm/extract-files.sh writes it back out and checks its md5.
emit_file() {
	echo "KVMUF-FILE-BEGIN $1 $(md5sum <"$2" | cut -d' ' -f1)"
	sed 's/^/KVMUF-FILE: /' "$2"
	echo "KVMUF-FILE-END $1"
}
