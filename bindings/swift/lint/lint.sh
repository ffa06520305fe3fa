#!/bin/sh
# lint.sh CLANG SOURCE_ROOT WORKDIR - both CUnmeta module maps (the Swift
# package's, over the installed header, and the xcframework's, beside a
# copy of unmeta.h as in Headers/) build as Clang modules with warnings as
# errors, and expose what Unmeta.swift calls. This is as far as can be
# checked without a Swift toolchain.
set -eu
clang=$1 root=$2 work=$3
rm -rf "$work" && mkdir -p "$work/Headers"
flags="-fmodules -fsyntax-only -Wall -Wextra -Werror -Wincomplete-umbrella -x objective-c"
"$clang" $flags -fmodules-cache-path="$work/cache1" -I"$root/include" \
  -fmodule-map-file="$root/bindings/swift/Sources/CUnmeta/module.modulemap" \
  "$root/bindings/swift/lint/modulemap_lint.m"
cp "$root/include/unmeta.h" "$root/bindings/swift/xcframework/module.modulemap" "$work/Headers/"
"$clang" $flags -fmodules-cache-path="$work/cache2" -fmodule-map-file="$work/Headers/module.modulemap" \
  "$root/bindings/swift/lint/modulemap_lint.m"
echo "swift: both CUnmeta module maps build as Clang modules"
