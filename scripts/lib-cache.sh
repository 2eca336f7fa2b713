# Sourced by the project's scripts: where downloaded kernels and built images live.
# The cache is outside the repository so a fresh clone reuses it and git never sees it.
: "${KVMUF_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/kvm-userfault}"
# The stock kernel lines every test runs on, oldest first.
: "${KVMUF_KERNEL_LINES:=6.1 6.12 7.2 7.3}"
export KVMUF_CACHE KVMUF_KERNEL_LINES
