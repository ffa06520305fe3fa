#!/bin/sh
# javac.sh JAVAC OUTDIR STAMP SOURCES... - compiles the binding and its test
# into OUTDIR with every lint warning an error, for Java 8 (Android's floor),
# and touches STAMP for ninja.
set -eu
javac=$1 out=$2 stamp=$3
shift 3
rm -rf "$out"
"$javac" -Xlint:all -Werror --release 8 -encoding UTF-8 -d "$out" "$@"
touch "$stamp"
