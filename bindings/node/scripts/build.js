'use strict';
// `npm install`'s build step: node-gyp rebuild against the running Node's
// own headers (--nodedir), so nothing is downloaded. The node-gyp is npm's
// own (npm_config_node_gyp, set for install scripts), else one on PATH
// (Debian's node-gyp package).
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');

const headers = spawnSync(process.execPath, [path.join(__dirname, 'node-headers.js')], { encoding: 'utf8' });
if (headers.status !== 0) {
  process.stderr.write(headers.stderr + 'unmeta: install the Node headers (Debian: libnode-dev)\n');
  process.exit(1);
}
// node-gyp wants the prefix whose include/node holds common.gypi.
const inc = headers.stdout.trim();
const nodedir = path.basename(inc) === 'node' ? path.dirname(path.dirname(inc)) : null;
if (!nodedir || !fs.existsSync(path.join(nodedir, 'include', 'node', 'common.gypi'))) {
  process.stderr.write('unmeta: no common.gypi beside ' + inc + ' for node-gyp --nodedir\n');
  process.exit(1);
}
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp && fs.existsSync(gyp) ? [process.execPath, gyp] : ['node-gyp'];
const args = [...cmd.slice(1), 'rebuild', '--nodedir=' + nodedir];
const r = spawnSync(cmd[0], args, { stdio: 'inherit', cwd: path.join(__dirname, '..') });
if (r.error) {
  process.stderr.write('unmeta: cannot run node-gyp (' + r.error.message + '); Debian: apt-get install node-gyp\n');
  process.exit(1);
}
process.exit(r.status === null ? 1 : r.status);
