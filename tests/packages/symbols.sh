#!/bin/sh
# symbols.sh LIB SYMBOLS - debian/libunmeta1.symbols lists exactly the
# symbols LIB exports, with their version nodes (lib/unmeta.map), and names
# LIB's SONAME. dpkg-gensymbols checks the same at package build time
# (debian/rules: dh_makeshlibs -- -c4); this catches a symbol added to
# include/unmeta.h and the map but not to the Debian file before a package
# is built. Exits 77 (skip) without nm; 1 under UNMETA_REQUIRE_TOOLS=1.
set -eu
lib=$1 symfile=$2
command -v nm >/dev/null 2>&1 || { echo "deb-symbols: nm not found (binutils)"; [ "${UNMETA_REQUIRE_TOOLS:-}" = 1 ] && exit 1; exit 77; }
command -v readelf >/dev/null 2>&1 || { echo "deb-symbols: readelf not found (binutils)"; [ "${UNMETA_REQUIRE_TOOLS:-}" = 1 ] && exit 1; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# nm prints a default version as name@@NODE; the symbols file says name@NODE.
# A version node shows up as an absolute symbol (A) named after itself,
# which dpkg-gensymbols writes NODE@NODE.
nm -D --defined-only "$lib" | awk '$2 == "A" && $3 !~ /@/ {print $3 "@" $3; next} {print $3}' |
  sed 's/@@/@/' | sort >"$tmp/lib"
# Symbol lines start with a space: " name@NODE minimal-version".
sed -n 's/^ \([^ ]*\) .*/\1/p' "$symfile" | sort >"$tmp/deb"
[ -s "$tmp/lib" ] || { echo "deb-symbols: $lib exports nothing"; exit 1; }
fail=0
if ! cmp -s "$tmp/lib" "$tmp/deb"; then
  echo "deb-symbols: $symfile does not list what $lib exports"
  echo "  (> only in the library, < only in the symbols file; add a new symbol with the version that first has it)"
  diff "$tmp/deb" "$tmp/lib" | grep '^[<>]' | sed 's/^/  /'
  fail=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
header=$(sed -n '1s/^\([^ ]*\) .*/\1/p' "$symfile")
if [ "$soname" != "$header" ]; then
  echo "deb-symbols: the library's SONAME is '$soname', $symfile is for '$header'"; fail=1
fi
[ "$fail" = 0 ] && echo "deb-symbols: $(wc -l <"$tmp/lib") symbols of $soname, as $symfile lists them"
exit "$fail"
