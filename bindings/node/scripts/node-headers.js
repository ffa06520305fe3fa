'use strict';
// Prints the folder holding the running Node's node_api.h, or exits 1.
// nodesource's nodejs and Debian's libnode-dev install the headers under
// <prefix>/include/node; Debian's node-gyp also knows /usr/include/nodejs.
const fs = require('node:fs');
const path = require('node:path');
const prefix = path.dirname(path.dirname(process.execPath));
const dirs = [path.join(prefix, 'include', 'node'), '/usr/include/node', '/usr/include/nodejs/src',
  '/usr/include/nodejs'];
for (const d of dirs) {
  if (fs.existsSync(path.join(d, 'node_api.h'))) {
    process.stdout.write(d + '\n');
    process.exit(0);
  }
}
process.stderr.write('node-headers: no node_api.h under ' + dirs.join(', ') + '\n');
process.exit(1);
