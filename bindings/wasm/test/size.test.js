'use strict';
// The size budget (issue #19, docs/wasm.md): the module under 400 KiB gzipped.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const h = require('./helpers');

const BUDGET = 400 * 1024;

test('the wasm module weighs under 400 KiB gzipped', (t) => {
  const wasm = fs.readFileSync(path.join(h.dist, 'unmeta.wasm'));
  const js = fs.readFileSync(path.join(h.dist, 'unmeta.js'));
  const gz = zlib.gzipSync(wasm, { level: 9 }).length;
  const jsGz = zlib.gzipSync(js, { level: 9 }).length;
  t.diagnostic(`unmeta.wasm ${wasm.length} bytes, ${gz} gzipped (${(gz / 1024).toFixed(1)} KiB); unmeta.js ${js.length} bytes, ${jsGz} gzipped`);
  assert.ok(WebAssembly.validate(wasm), 'a valid module');
  assert.ok(gz < BUDGET, `${gz} bytes gzipped, over the ${BUDGET}-byte budget`);
});
