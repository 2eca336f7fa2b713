# kvm-userfault top-level Makefile.
#
#   make                 userspace tools, and the module for the running kernel (or KDIR=...)
#   make module KDIR=..  the module against one kernel build tree (kbuild M= build, W=1)
#   make kernels         fetch the stock Debian kernels into the cache (scripts/fetch-kernels.sh)
#   make stock-modules   the module built for every fetched stock kernel, in build/<line>/
#   make check           the whole test suite: host tests, then every stock kernel under QEMU
#   make demo            the main job: build, boot a stock kernel, load the module, run the demo
#   make bench           kvmuf-bench (kvm-userfault vs userfaultfd) in a 6.12 guest: table, JSON, PNG;
#                        then kvmuf-restore-bench (a restore over NBD at 0, 1, 5 ms per read)
#   make dkms-check      `dkms build` of this tree against an installed 6.1 headers package
#   make install         library and headers (<kvmuf/...>, pkg-config), tools, man pages,
#                        udev rule, modules-load.d, and the module's sources for DKMS (then
#                        `dkms install` when DESTDIR is empty and dkms is there);
#                        PREFIX=/usr/local DESTDIR= SYSCONFDIR=/etc
#   make clean

KVER	?= $(shell uname -r)
KDIR	?= /lib/modules/$(KVER)/build
BUILD	:= $(CURDIR)/build
# Every stock kernel line the project supports (see scripts/lib-cache.sh).
LINES	?= 6.1 6.12 7.2 7.3
CACHE	:= $(shell . scripts/lib-cache.sh && echo $$KVMUF_CACHE)

# Files that make up the kernel module's source (also what DKMS packages).
MODULE_SRC := Kbuild VERSION $(wildcard module/*.c module/*.h module/*.S module/*.sh) \
	include/uapi/kvmuf/kvm_userfault.h

UAPI_CFLAGS := -I$(CURDIR)/include/uapi
export UAPI_CFLAGS
GUEST_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -static $(UAPI_CFLAGS)

.PHONY: all module tools guest kernels stock-modules check check-host check-vm demo install man \
	bench dkms-check clean

all: tools
ifneq ($(wildcard $(KDIR)/Makefile),)
all: module
else
all:
	@echo "make: no kernel build tree at $(KDIR): module not built (set KDIR=..., or" \
		"'make stock-modules' for the stock kernels)"
endif

module:
	@test -f $(KDIR)/Makefile || { echo "make: no kernel build tree at $(KDIR); set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 KVMUF_WERROR=y modules

tools:
	$(MAKE) -C tools

# Programs for the initramfs: static (the guest has no libc), but for kvmuf-ctl and
# kvmuf-daemon (libkmod and libnbd are shared only), whose libraries go in with them.
guest: tools
	@mkdir -p $(BUILD)/guest
	$(CC) $(GUEST_CFLAGS) -o $(BUILD)/guest/kvmuf-devtest tests/guest/kvmuf-devtest.c
	$(CC) $(GUEST_CFLAGS) -Itools/vmm -o $(BUILD)/guest/kvmuf-abitest \
		tests/guest/kvmuf-abitest.c tools/vmm/libkvmufvm.a -pthread
	$(CC) $(GUEST_CFLAGS) -Itools/vmm -Itools/lib -Itools/common -Itests/guest \
		-o $(BUILD)/guest/kvmuf-faulttest $(wildcard tests/guest/faulttest/*.c) \
		tools/vmm/libkvmufvm.a tools/lib/libkvmuf.a -pthread
	cp tools/vmm/kvmuf-vmm.static $(BUILD)/guest/kvmuf-vmm
	$(MAKE) -C tools/daemon SANITIZE= kvmuf-daemon.guest
	cp tools/daemon/kvmuf-daemon.guest $(BUILD)/guest/kvmuf-daemon
	cp tools/daemon/kvmuf-mksnap.static $(BUILD)/guest/kvmuf-mksnap
	cp tools/bench/kvmuf-bench.static $(BUILD)/guest/kvmuf-bench
	# kvmuf-restore-bench reads NBD through libnbd (shared only), like kvmuf-daemon.
	$(MAKE) -C tools/bench SANITIZE= kvmuf-restore-bench.guest
	cp tools/bench/kvmuf-restore-bench.guest $(BUILD)/guest/kvmuf-restore-bench
	# kvmuf-ctl links libkmod, which Debian ships shared only: a plain dynamic build
	# (no sanitizer runtime), its libraries copied in by tests/vm/mkinitramfs.sh.
	$(MAKE) -C tools/ctl SANITIZE= kvmuf-ctl.guest
	cp tools/ctl/kvmuf-ctl.guest $(BUILD)/guest/kvmuf-ctl
	# The examples, built as a VMM project would: against an installed libkvmuf.
	rm -rf $(BUILD)/inst
	$(MAKE) -C tools/lib SANITIZE= install DESTDIR=$(BUILD)/inst PREFIX=/usr
	$(MAKE) -C examples PKG_CONFIG_PATH=$(BUILD)/inst/usr/lib/pkgconfig \
		PKG_CONFIG_SYSROOT_DIR=$(BUILD)/inst LDFLAGS=-static
	cp examples/park-vmm examples/exit-vmm examples/mini-daemon $(BUILD)/guest/

kernels:
	scripts/fetch-kernels.sh $(LINES)

# The tools' man pages from their --help (help2man); kvmuf-ctl.8 and the library's and
# the device's pages are written by hand.
MAN_TOOLS := vmm/kvmuf-vmm daemon/kvmuf-daemon daemon/kvmuf-mksnap bench/kvmuf-bench \
	bench/kvmuf-restore-bench
man: tools
	for t in $(MAN_TOOLS); do \
		help2man --no-info --section=1 --source=kvm-userfault \
			--version-string="$$(cat VERSION)" -n "$$(sed -n 1p man/$${t#*/}.name)" \
			-o man/$${t#*/}.1 tools/$$t || exit; \
	done

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
MANDIR		?= $(PREFIX)/share/man
SYSCONFDIR	?= /etc
VERSION		:= $(shell cat VERSION)
DKMS_SRC	:= $(DESTDIR)/usr/src/kvm-userfault-$(VERSION)
INSTALL_PROGS	:= tools/ctl/kvmuf-ctl tools/daemon/kvmuf-daemon tools/daemon/kvmuf-mksnap \
		   tools/vmm/kvmuf-vmm tools/bench/kvmuf-bench tools/bench/kvmuf-restore-bench

install: tools
	$(MAKE) -C tools/lib install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(INSTALL_PROGS) $(DESTDIR)$(BINDIR)/
	for page in man/*.[1-8]; do \
		install -D -m 644 $$page $(DESTDIR)$(MANDIR)/man$${page##*.}/$${page##*/} || exit; \
	done
	install -D -m 644 dist/60-kvm-userfault.rules \
		$(DESTDIR)$(SYSCONFDIR)/udev/rules.d/60-kvm-userfault.rules
	install -D -m 644 dist/kvm-userfault.conf \
		$(DESTDIR)$(SYSCONFDIR)/modules-load.d/kvm-userfault.conf
	rm -rf $(DKMS_SRC) && install -d $(DKMS_SRC)
	cp --parents dkms.conf $(MODULE_SRC) dist/* $(DKMS_SRC)/
	if [ -z "$(DESTDIR)" ] && command -v dkms >/dev/null; then \
		dkms install kvm-userfault/$(VERSION) || exit; \
	fi

# One copy of the module sources per kernel line, so builds for several kernels do not
# overwrite each other's objects in the source tree.
stock-modules: $(foreach l,$(LINES),build/$(l)/kvm_userfault.ko)

build/%/kvm_userfault.ko: $(MODULE_SRC) $(CACHE)/kernels/%/ready
	@rm -rf $(BUILD)/$*/src && mkdir -p $(BUILD)/$*/src
	cp -r --parents $(MODULE_SRC) $(BUILD)/$*/src/
	$(MAKE) -C $$(cat $(CACHE)/kernels/$*/kdir) M=$(BUILD)/$*/src W=1 KVMUF_WERROR=y modules
	cp $(BUILD)/$*/src/kvm_userfault.ko $@

# Test-only module for the in-guest suite (module-ipmodify-conflict).
HOLDER_SRC := $(wildcard tests/vm/ipmodify-holder/*)
build/%/test-modules/kvmuf_ipmodify_holder.ko: $(HOLDER_SRC) $(CACHE)/kernels/%/ready
	@rm -rf $(BUILD)/$*/test-modules/src && mkdir -p $(BUILD)/$*/test-modules/src
	cp $(HOLDER_SRC) $(BUILD)/$*/test-modules/src/
	$(MAKE) -C $$(cat $(CACHE)/kernels/$*/kdir) M=$(BUILD)/$*/test-modules/src W=1 modules
	cp $(BUILD)/$*/test-modules/src/kvmuf_ipmodify_holder.ko $@

$(CACHE)/kernels/%/ready:
	scripts/fetch-kernels.sh $*

check:
	tests/run-all.sh

check-host:
	tests/run-all.sh --host-only

check-vm:
	tests/run-all.sh --vm-only

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

dkms-check:
	tests/host/dkms-build.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	$(MAKE) -C tools clean
	rm -rf $(BUILD)
