#!/bin/sh
# symbols.sh LIB - the shared library exports only the public API:
#  - every defined dynamic symbol is unmeta_*, in version node UNMETA_1.0
#    (or UNMETA_EXPERIMENTAL for unmeta_exp_*), per lib/unmeta.map;
#  - the SONAME is libunmeta.so.1;
#  - no writable data of our own (.data/.bss objects): no global mutable
#    state, so contexts on different threads share nothing.
# Exits 77 (skip) when binutils are absent; 1 under UNMETA_REQUIRE_TOOLS=1
# (CI: a missing install step is a failure, tests/lib/harness.py).
set -eu
lib=$1
for t in nm readelf objdump; do
  command -v "$t" >/dev/null 2>&1 || { echo "symbols: $t not found (binutils)"; [ "${UNMETA_REQUIRE_TOOLS:-}" = 1 ] && exit 1; exit 77; }
done
fail=0

# Version definitions show up as absolute symbols named after the node.
syms=$(nm -D --defined-only "$lib" | awk '!($2 == "A" && $3 ~ /^UNMETA_/) {print $3}')
[ -n "$syms" ] || { echo "symbols: no exported symbols in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^unmeta_' || true)
if [ -n "$bad" ]; then
  echo "symbols: exported symbols outside the unmeta_ namespace:"; printf '  %s\n' $bad; fail=1
fi

# Version nodes: objdump -T prints "... <version> <name>".
badver=$(objdump -T "$lib" | awk '$NF ~ /^unmeta_/ {
    v = $(NF-1)
    if ($NF ~ /^unmeta_exp_/) { if (v != "UNMETA_EXPERIMENTAL") print $NF " " v }
    else if (v != "UNMETA_1.0") print $NF " " v }')
if [ -n "$badver" ]; then
  echo "symbols: symbols in the wrong version node:"; printf '%s\n' "$badver" | sed 's/^/  /'; fail=1
fi

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [ "$soname" != "libunmeta.so.1" ]; then
  echo "symbols: SONAME is '$soname', expected libunmeta.so.1"; fail=1
fi

# Writable objects: the C runtime's own (completed.0, __dso_handle,
# __TMC_END__) are not ours. Sanitizer builds add their own bookkeeping
# data, so the check is left to the plain build there.
writable=""
if nm -D --undefined-only "$lib" | grep -q -E ' __(asan|tsan|ubsan|msan)_'; then
  echo "symbols: sanitizer build: writable-data check left to the plain build"
else
  writable=$(objdump -t "$lib" | awk '$4 ~ /^\.(data|bss)$/ && $3 == "O" {print $NF}' |
    grep -v -E '^(completed\.[0-9]+|__dso_handle|__TMC_END__)$' |
    # lib/av/av.c: FFmpeg's function table, filled once under pthread_once
    # on the first media file and only read afterwards (write-once, not
    # state shared between contexts).
    grep -v -E '^(AV|av_loaded|av_load_error|av_once)$' || true)
fi
if [ -n "$writable" ]; then
  echo "symbols: writable global data (global mutable state):"; printf '  %s\n' $writable; fail=1
fi

n=$(printf '%s\n' "$syms" | wc -l)
[ "$fail" = 0 ] && echo "symbols: $n exported symbols, all unmeta_* in UNMETA_1.0; SONAME $soname; no writable globals"
exit "$fail"
