# Included by every tools/<tool>/Makefile: the build policy they all follow, in one place.
# C11 with -Wall -Wextra -Werror always; SANITIZE=1 adds ASan and UBSan to the dynamic
# builds; a change of flags rebuilds everything.
CC      ?= gcc
CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Werror
# The project's one version (the file VERSION): what every tool's --version prints.
override CFLAGS += -DKVMUF_TOOLS_VERSION='"$(shell cat $(dir $(lastword $(MAKEFILE_LIST)))../../VERSION)"'
LDLIBS  += -pthread

SAN_FLAGS :=
ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
endif

TOP      := ../..
LIBDIR   := $(TOP)/tools/lib
LIBKVMUF := $(LIBDIR)/libkvmuf.a
CLI      := $(TOP)/tools/common/cli.c

# Rebuild everything when the compiler flags change (e.g. SANITIZE=1 on/off). Deferred
# (=), so flags a Makefile adds after including this one count too.
FLAGS_STAMP := .build-flags
FLAGS = $(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) $(LDLIBS)

# The rules below must not become the including Makefile's default goal.
.DEFAULT_GOAL := all

$(FLAGS_STAMP): FORCE
	@echo '$(FLAGS)' | cmp -s - $@ || echo '$(FLAGS)' > $@

# libkvmuf is built by its own Makefile, always plain (no sanitizers: the static
# binaries link the same archive).
$(LIBKVMUF): FORCE
	$(MAKE) -C $(LIBDIR) SANITIZE= libkvmuf.a

.PHONY: FORCE
