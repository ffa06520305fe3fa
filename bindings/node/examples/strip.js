#!/usr/bin/env node
'use strict';
// strip.js IN OUT: writes IN without its metadata to OUT (atomically), as
// `unmeta strip IN -o OUT` does; exit 2 with the library's message when IN
// is refused. ../shared/tools/audit judges the binding through it.
const unmeta = require('../lib');

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: strip.js IN OUT\n');
  process.exit(64);
}
unmeta.stripFile(input, output).then(() => process.exit(0), (err) => {
  process.stderr.write(`strip.js: ${input}: ${err.message} (${err.name})\n`);
  process.exit(2);
});
