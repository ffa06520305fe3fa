'use strict';
// `npm run build`: the module into dist/ through the repository's own
// script (scripts/wasm-build), which builds the C libraries it needs from
// Debian's source packages on first use and caches them in the repository's
// build/wasm-deps (UNMETA_WASM_DEPS names another folder).
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..', '..');
const deps = process.env.UNMETA_WASM_DEPS || path.join(root, 'build', 'wasm-deps');
const r = spawnSync(path.join(root, 'scripts', 'wasm-build'), [path.join(__dirname, '..', 'dist'), deps], { stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status === null ? 1 : r.status);
