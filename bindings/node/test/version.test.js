'use strict';
// One version: meson.build's project version is the package's and the
// loaded library's (bump them together; this test says when they differ).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const unmeta = require('..');
const h = require('./helpers');

test('package.json, meson.build and the library agree on the version', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(h.here, 'package.json'), 'utf8'));
  const meson = fs.readFileSync(path.join(h.sourceRoot, 'meson.build'), 'utf8');
  const m = /project\(\s*'unmeta'[^)]*?version\s*:\s*'([^']+)'/s.exec(meson);
  assert.ok(m, "meson.build's project() has a version");
  assert.equal(pkg.version, m[1]);
  assert.equal(unmeta.libraryVersion(), m[1]);
});

test('the formats are the library build\'s', () => {
  const f = unmeta.formats();
  for (const name of ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'mp4']) assert.ok(f.includes(name), name);
});

test('index.d.ts declares every export of lib/index.js, and nothing else', () => {
  const dts = fs.readFileSync(path.join(h.here, 'index.d.ts'), 'utf8');
  const declared = new Set([...dts.matchAll(/^export (?:declare )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(unmeta).sort());
});
