'use strict';
// The package's API: the Node binding's calls, inputs (Blob, Uint8Array,
// Buffer, path, URL), options, errors and progress, on examples/sample.jpg.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { pathToFileURL } = require('node:url');
const h = require('./helpers');
const unmeta = require('..');

test('strip, inspect and check agree with the CLI on the sample', async (t) => {
  const dir = h.tmpdir('unmeta-wasm-api-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bytes = fs.readFileSync(h.sample);
  const c = h.cliStrip(h.sample, dir, 'cli');
  for (const input of [new Blob([bytes], { type: 'image/jpeg' }), new Uint8Array(bytes), bytes, h.sample, pathToFileURL(h.sample)]) {
    const blob = await unmeta.strip(input);
    assert.ok(blob instanceof Blob);
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(c.out));
  }
  assert.equal((await unmeta.strip(new Blob([bytes], { type: 'image/jpeg' }))).type, 'image/jpeg');
  const report = await unmeta.inspect(h.sample);
  const cliReport = JSON.parse(spawnSync(h.cli, ['inspect', '--json', h.sample], { encoding: 'utf8' }).stdout);
  delete cliReport.file;
  assert.deepEqual(report, cliReport, 'the same report as `unmeta inspect --json`');
  assert.equal(await unmeta.check(h.sample), true);
  assert.equal(await unmeta.check(new Blob([c.out])), false);
  const { data, report: r2 } = await unmeta.stripWithReport(h.sample);
  assert.equal(r2.format, 'jpeg');
  assert.equal(data.size, c.out.length);
  assert.deepEqual(unmeta.formats().filter((f) => f !== 'media'), ['jpeg', 'png', 'webp', 'gif', 'tiff', 'dng', 'heif', 'jxl', 'mp4']);
  assert.match(unmeta.libraryVersion(), /^\d+\.\d+\.\d+$/);
});

test('errors are the Node binding\'s classes, with the ABI\'s codes', async () => {
  await unmeta.ready();
  await assert.rejects(unmeta.strip(new Uint8Array([1, 2, 3, 4])), (e) => e instanceof unmeta.UnsupportedError && e.code === -4);
  const bytes = fs.readFileSync(h.sample);
  await assert.rejects(unmeta.strip(bytes.subarray(0, 3000)), unmeta.TruncatedError);
  await assert.rejects(unmeta.strip(bytes, { icc: 'maybe' }), unmeta.InvalidArgumentError);
  await assert.rejects(unmeta.strip(bytes, { colour: 1 }), unmeta.InvalidArgumentError);
  await assert.rejects(unmeta.strip(bytes, { limits: { maxBlockSize: 1024 } }), unmeta.LimitError);
  await assert.rejects(unmeta.strip(42), TypeError);
  assert.ok(unmeta.strerror(-5).length > 0);
});

test('a failed stripFile leaves nothing; a good one replaces the output', async (t) => {
  const dir = h.tmpdir('unmeta-wasm-file-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'bad.jpg');
  fs.writeFileSync(bad, fs.readFileSync(h.sample).subarray(0, 3000));
  const out = path.join(dir, 'out.jpg');
  await assert.rejects(unmeta.stripFile(bad, out), unmeta.TruncatedError);
  assert.deepEqual(fs.readdirSync(dir), ['bad.jpg']);
  fs.writeFileSync(out, 'old');
  const report = await unmeta.stripFile(h.sample, out);
  assert.equal(report.format, 'jpeg');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['bad.jpg', 'out.jpg']);
  assert.ok(fs.readFileSync(out).equals(h.cliStrip(h.sample, dir, 'cli').out));
});

test('progress is reported, and returning false cancels', async () => {
  const seen = [];
  await unmeta.strip(h.sample, { onProgress: (done, total) => { seen.push([done, total]); } });
  assert.ok(seen.length > 0);
  const size = fs.statSync(h.sample).size;
  assert.deepEqual(seen[seen.length - 1], [size, size]);
  await assert.rejects(unmeta.strip(h.sample, { onProgress: () => false }), unmeta.CanceledError);
});

test('the package loads with import as with require', (t) => {
  // As an installed package (node_modules/unmeta-wasm -> this folder): Node
  // resolves `import 'unmeta-wasm'` through package.json's exports.
  const dir = h.tmpdir('unmeta-wasm-import-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(h.here, path.join(dir, 'node_modules', 'unmeta-wasm'));
  fs.writeFileSync(path.join(dir, 'a.mjs'), `import unmeta, { inspect } from 'unmeta-wasm';
    console.log((await inspect(process.argv[2])).format, typeof unmeta.strip);`);
  fs.writeFileSync(path.join(dir, 'b.cjs'), `require('unmeta-wasm').check(process.argv[2]).then((d) => console.log(d));`);
  const env = { ...process.env, UNMETA_WASM_DIST: h.dist };
  const a = spawnSync(process.execPath, [path.join(dir, 'a.mjs'), h.sample], { encoding: 'utf8', env, cwd: dir });
  assert.equal(a.stdout.trim(), 'jpeg function', a.stderr);
  const b = spawnSync(process.execPath, [path.join(dir, 'b.cjs'), h.sample], { encoding: 'utf8', env, cwd: dir });
  assert.equal(b.stdout.trim(), 'true', b.stderr);
});

test('the output is gathered into parts, folded into Blobs every 16 MiB, in order', async () => {
  const core = require('../lib/core');
  const w = core.partsWriter();
  const want = Buffer.alloc(40 * (1 << 20) + 12345);
  for (let i = 0; i < want.length; i++) want[i] = (i * 2654435761) >>> 24;
  for (let at = 0, k = 0; at < want.length; k++) {
    const n = Math.min(want.length - at, [1, 70000, 1 << 20, 3 << 20][k % 4]);
    w.write(new Uint8Array(want.subarray(at, at + n))); // copies, as core.run gives
    at += n;
  }
  const parts = w.finish();
  assert.ok(parts.filter((p) => p instanceof Blob).length >= 2, 'folded into Blobs');
  assert.ok(Buffer.from(await new Blob(parts).arrayBuffer()).equals(want));
});
