#!/bin/sh
# abidiff.sh SOURCE_ROOT LIB - the built library has exactly the ABI of the
# committed baseline abi/libunmeta.abi. Any difference fails, additions
# included: a new function is a decision, recorded by regenerating the
# baseline with scripts/abi-update (docs/abi.md). Symbols of the
# UNMETA_EXPERIMENTAL node are left out (abi/suppressions.ini).
# Exits 77 (skip) when libabigail's abidiff is absent; 1 under
# UNMETA_REQUIRE_TOOLS=1 (CI: a missing install step is a failure).
set -u
root=$1
lib=$2
command -v abidiff >/dev/null 2>&1 || { echo "abidiff: not installed (abigail-tools)"; [ "${UNMETA_REQUIRE_TOOLS:-}" = 1 ] && exit 1; exit 77; }
base="$root/abi/libunmeta.abi"
[ -f "$base" ] || { echo "abidiff: no baseline $base; run scripts/abi-update"; exit 1; }
abidiff --no-show-locs --exported-interfaces-only --suppressions "$root/abi/suppressions.ini" \
  --headers-dir2 "$root/include" --drop-private-types \
  "$base" "$lib"
rc=$?
if [ "$rc" != 0 ]; then
  echo "abidiff: the ABI differs from abi/libunmeta.abi (exit $rc: 1 error, 2 usage, 4 change, 8 incompatible change)."
  echo "abidiff: if the change is intended and compatible, run scripts/abi-update and commit the baseline"
  echo "abidiff: with a CHANGELOG.md entry; see docs/abi.md."
  exit 1
fi
echo "abidiff: the ABI matches abi/libunmeta.abi"
