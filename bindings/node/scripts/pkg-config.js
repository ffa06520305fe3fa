'use strict';
// binding.gyp's view of libunmeta through pkg-config: --cflags, --libs, or
// --rpath (-Wl,-rpath for each -L folder). A missing libunmeta stops the
// build with a message saying what to install.
const { execFileSync } = require('node:child_process');
const what = process.argv[2];
function pc(flag) {
  try {
    return execFileSync('pkg-config', [flag, 'unmeta'], { encoding: 'utf8' }).trim();
  } catch (e) {
    process.stderr.write('unmeta: pkg-config finds no libunmeta (`pkg-config ' + flag + ' unmeta` failed).\n' +
      'Install it (meson install, or the distribution package), or point PKG_CONFIG_PATH at a\n' +
      "build tree's meson-uninstalled folder.\n");
    process.exit(1);
  }
}
if (what === '--cflags') {
  process.stdout.write(pc('--cflags'));
} else if (what === '--libs') {
  process.stdout.write(pc('--libs'));
} else if (what === '--rpath') {
  const dirs = pc('--libs-only-L').split(/\s+/).filter((f) => f.startsWith('-L')).map((f) => f.slice(2));
  process.stdout.write(dirs.map((d) => '-Wl,-rpath,' + d).join(' '));
} else {
  process.stderr.write('usage: pkg-config.js --cflags|--libs|--rpath\n');
  process.exit(2);
}
