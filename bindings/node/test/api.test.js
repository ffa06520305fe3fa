'use strict';
// strip, inspect and check on the project's sample photo, judged by
// exiftool; options; the error classes with the ABI's codes.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const unmeta = require('..');
const h = require('./helpers');

const sample = fs.readFileSync(h.sample);
const PRIVATE = /GPS|Make|Model|Serial|Artist|Copyright|DateTimeOriginal|Software|Comment|IFD1|ThumbnailImage/;

test('strip removes what exiftool finds, keeps the image and is idempotent', async (t) => {
  if (!h.needTools(t, 'exiftool')) return;
  const before = Object.keys(h.exiftool(h.sample)).filter((k) => PRIVATE.test(k));
  assert.ok(before.length >= 8, 'the sample carries metadata: ' + before);
  const clean = await unmeta.strip(sample);
  assert.ok(Buffer.isBuffer(clean));
  const dir = h.tmpdir('unmeta-node-api-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'clean.jpg');
  fs.writeFileSync(out, clean);
  const tags = h.exiftool(out);
  assert.deepEqual(Object.keys(tags).filter((k) => PRIVATE.test(k) && !k.startsWith('System:')), []);
  assert.equal(tags['File:ImageWidth'], 320);
  assert.deepEqual(await unmeta.strip(clean), clean, 'strip(strip(x)) == strip(x)');
});

test('the pixels survive the strip (djpeg decodes both to the same bytes)', async (t) => {
  if (!h.needTools(t, 'djpeg')) return;
  const clean = await unmeta.strip(sample);
  const decode = (buf) => spawnSync('djpeg', ['-ppm'], { input: buf, maxBuffer: 1 << 26 }).stdout;
  assert.ok(decode(sample).length > 320 * 213 * 3);
  assert.deepEqual(decode(clean), decode(sample));
});

test('the same bytes as the CLI, from a Buffer, a Uint8Array and a path', async (t) => {
  const dir = h.tmpdir('unmeta-node-api-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'cli.jpg');
  const r = spawnSync(h.cli, ['strip', '-o', out, h.sample]);
  assert.equal(r.status, 0, String(r.stderr));
  const want = fs.readFileSync(out);
  assert.deepEqual(await unmeta.strip(sample), want);
  assert.deepEqual(await unmeta.strip(new Uint8Array(sample)), want);
  assert.deepEqual(await unmeta.strip(h.sample), want);
  const fileOut = path.join(dir, 'node.jpg');
  const report = await unmeta.stripFile(h.sample, fileOut);
  assert.deepEqual(fs.readFileSync(fileOut), want);
  assert.equal(report.format, 'jpeg');
});

test('inspect gives plain objects with the ABI categories', async () => {
  const report = await unmeta.inspect(sample);
  assert.equal(report.format, 'jpeg');
  assert.equal(report.dirty, true);
  const cats = new Set(report.findings.map((f) => f.category));
  for (const c of ['location', 'device', 'time', 'people', 'software', 'embedded']) assert.ok(cats.has(c), c);
  const gps = report.findings.find((f) => f.name === 'GPSPosition');
  assert.ok(gps && gps.category === 'location' && /^48\.85/.test(gps.value), JSON.stringify(gps));
  const serial = report.findings.find((f) => f.category === 'device' && /PX7-004211-88/.test(f.value));
  assert.ok(serial, 'the serial number is a device finding');
  for (const f of report.findings) assert.ok(report.blocks[f.block], 'finding points at a block');
  assert.ok(report.blocks.some((b) => b.kind === 'APP1 Exif' && b.action === 'remove'));
  assert.deepEqual(await unmeta.inspect(h.sample), report, 'a path gives the same report');
  const { report: stripReport } = await unmeta.stripWithReport(sample);
  assert.deepEqual(stripReport.findings, report.findings);
});

test('check: dirty before, clean after', async () => {
  assert.equal(await unmeta.check(sample), true);
  assert.equal(await unmeta.check(await unmeta.strip(sample)), false);
});

test("icc: 'strip' removes the profile, 'keep' keeps it", async (t) => {
  // The corpus's JPEGs that carry a profile.
  const dir = path.join(h.shared, 'corpus', 'jpeg');
  if (!h.need(t, '../shared/corpus', fs.existsSync(dir))) return;
  let found = 0;
  for (const name of fs.readdirSync(dir)) {
    const buf = fs.readFileSync(path.join(dir, name));
    let report;
    try { report = await unmeta.inspect(buf); } catch { continue; }
    if (!report.blocks.some((b) => b.kind === 'APP2 ICC_PROFILE')) continue;
    const kept = await unmeta.inspect(await unmeta.strip(buf, { icc: 'keep' }));
    const gone = await unmeta.inspect(await unmeta.strip(buf, { icc: 'strip' }));
    assert.ok(kept.blocks.some((b) => b.kind === 'APP2 ICC_PROFILE'), name);
    assert.ok(!gone.blocks.some((b) => b.kind === 'APP2 ICC_PROFILE'), name);
    found++;
  }
  assert.ok(found > 0, 'a corpus JPEG with an ICC profile');
});

test('errors are UnmetaError subclasses carrying the ABI code', async () => {
  const cases = [
    [Buffer.from('not a photo at all'), unmeta.UnsupportedError, 'UnsupportedError', -4],
    [sample.subarray(0, 3000), unmeta.TruncatedError, 'TruncatedError', -6],
  ];
  for (const [input, cls, name, code] of cases) {
    for (const op of [unmeta.strip, unmeta.inspect, unmeta.check]) {
      await assert.rejects(op(input), (e) => {
        assert.ok(e instanceof cls && e instanceof unmeta.UnmetaError && e instanceof Error, e.stack);
        assert.equal(e.name, name);
        assert.equal(e.code, code);
        assert.equal(cls.code, code);
        assert.ok(e.message.length > 0);
        return true;
      });
    }
  }
  await assert.rejects(unmeta.strip('/nonexistent/unmeta-node.jpg'), (e) => e instanceof unmeta.InputOutputError && e.code === -3);
  await assert.rejects(unmeta.strip(sample, { icc: 'maybe' }), (e) => e instanceof unmeta.InvalidArgumentError && e.code === -1);
  await assert.rejects(unmeta.strip(sample, { keepEverything: true }), unmeta.InvalidArgumentError);
  // A limit the library enforces: the Exif segment is 4734 bytes, the limit 4096.
  await assert.rejects(unmeta.strip(sample, { limits: { maxBlockSize: 4096 } }), (e) => e instanceof unmeta.LimitError && e.code === -7);
  await assert.rejects(() => unmeta.strip(42), TypeError);
});

test('every error class has a distinct name and the code the library defines', () => {
  const names = ['InvalidArgumentError', 'OutOfMemoryError', 'InputOutputError', 'UnsupportedError', 'MalformedError',
    'TruncatedError', 'LimitError', 'StateError', 'CanceledError', 'FeatureError', 'ExpiredError', 'CryptoError', 'NoKeyError'];
  const codes = new Set();
  for (const n of names) {
    const cls = unmeta[n];
    assert.equal(typeof cls, 'function', n);
    assert.ok(Number.isInteger(cls.code) && cls.code < 0, n);
    assert.equal(new cls('x').name, n);
    assert.equal(new cls('x').code, cls.code);
    assert.equal(unmeta.strerror(cls.code).length > 0, true);
    codes.add(cls.code);
  }
  assert.equal(codes.size, names.length);
  assert.deepEqual([...codes].sort((a, b) => b - a), Array.from({ length: 13 }, (_, i) => -1 - i));
});
