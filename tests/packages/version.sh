#!/bin/sh
# version.sh CHANGELOG VERSION - the Debian packages carry meson's project
# version (meson.build `version :`, passed as VERSION): the newest entry of
# debian/changelog must be VERSION-N (N the Debian revision). To bump, change
# meson.build, then add an entry: dch -v VERSION-1 (devscripts), or by hand.
set -eu
changelog=$1 version=$2
# First line: "unmeta (0.1.0-1) unstable; urgency=medium".
deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$changelog")
[ -n "$deb" ] || { echo "deb-version: no version on the first line of $changelog"; exit 1; }
upstream=${deb#*:}       # no epoch
upstream=${upstream%-*}  # no Debian revision
if [ "$upstream" != "$version" ]; then
  echo "deb-version: $changelog says $deb, meson.build says $version: add a changelog entry $version-1"
  exit 1
fi
echo "deb-version: $deb carries meson's $version"
