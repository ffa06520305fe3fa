'use strict';
// createStripStream() on a 200 MiB MP4 (made here with ffmpeg, its moov box
// at the end, as cameras write it): constant memory (peak RSS of the node
// process doing it), the same bytes as the CLI, nothing left in the spill
// folder; errors and destroy() clean up too.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { pipeline } = require('node:stream/promises');
const { Readable, Writable } = require('node:stream');
const unmeta = require('..');
const h = require('./helpers');

const SIZE = 200 * 1024 * 1024;
// Node's own streaming copy of the same file (fs read stream -> PassThrough
// -> fs write stream) peaks at about 80 MB of RSS on Node 20 (Buffers wait
// for the garbage collector); the strip stream may add its spill file
// writes and read-back, not the file: at most EXTRA_MB over that copy, and
// never RSS_LIMIT_MB (the input alone is 200).
const RSS_LIMIT_MB = 120;
const EXTRA_MB = 40;

function sha256(file) {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let n;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

// A 2 s noise clip at the highest MPEG-4 quality (about 14 MB), looped by
// stream copy to SIZE bytes, with a title, an artist and an ISO 6709
// location: a few seconds of ffmpeg.
function makeVideo(dir) {
  const seed = path.join(dir, 'seed.mp4');
  const big = path.join(dir, 'big.mp4');
  let r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i',
    'nullsrc=s=640x360:r=25,geq=random(1)*255:128:128', '-t', '2', '-c:v', 'mpeg4', '-q:v', '1', '-g', '25', seed]);
  assert.equal(r.status, 0, String(r.stderr));
  r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-stream_loop', '-1', '-i', seed, '-c', 'copy',
    '-metadata', "title=Ana's holiday", '-metadata', 'artist=Ana Example',
    '-metadata', 'location=+48.8584+002.2945/', '-fs', String(SIZE), big]);
  assert.equal(r.status, 0, String(r.stderr));
  fs.unlinkSync(seed);
  assert.ok(fs.statSync(big).size > SIZE - (16 << 20), 'about 200 MiB');
  return big;
}

test('a 200 MiB MP4 through createStripStream in constant memory', async (t) => {
  if (!h.needTools(t, 'ffmpeg', 'exiftool')) return;
  const dir = h.tmpdir('unmeta-node-stream-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const big = makeVideo(dir);
  const before = JSON.stringify(h.exiftool(big));
  assert.match(before, /Ana Example/);
  assert.match(before, /48\.858|48 deg 51/);

  // Separate node processes, so that each peak RSS is the stream's alone.
  const spill = path.join(dir, 'spill');
  fs.mkdirSync(spill);
  const out = path.join(dir, 'node.mp4');
  const run = (middle, dest) => {
    const child = `
      const fs = require('node:fs');
      const { PassThrough } = require('node:stream');
      const { pipeline } = require('node:stream/promises');
      const unmeta = require(${JSON.stringify(h.here)});
      const s = ${middle};
      pipeline(fs.createReadStream(${JSON.stringify(big)}), s, fs.createWriteStream(${JSON.stringify(dest)}))
        .then(() => console.log(JSON.stringify({ maxRSS: process.resourceUsage().maxRSS,
          format: s.report && s.report.format, findings: s.report && s.report.findings.length })));`;
    const r = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8', env: process.env });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const copy = run('new PassThrough()', path.join(dir, 'copy.mp4'));
  fs.unlinkSync(path.join(dir, 'copy.mp4'));
  const res = run(`unmeta.createStripStream({ tmpdir: ${JSON.stringify(spill)} })`, out);
  const peakMB = res.maxRSS / 1024;
  const copyMB = copy.maxRSS / 1024;
  t.diagnostic(`peak RSS ${peakMB.toFixed(1)} MB for ${(fs.statSync(big).size / 1048576).toFixed(0)} MiB ` +
               `(a plain stream copy: ${copyMB.toFixed(1)} MB)`);
  assert.ok(peakMB < RSS_LIMIT_MB, `peak RSS ${peakMB.toFixed(1)} MB >= ${RSS_LIMIT_MB} MB`);
  assert.ok(peakMB < copyMB + EXTRA_MB, `peak RSS ${peakMB.toFixed(1)} MB, a copy's ${copyMB.toFixed(1)} MB`);
  assert.equal(res.format, 'mp4');
  assert.ok(res.findings > 0);
  assert.deepEqual(fs.readdirSync(spill), [], 'the spill folder is empty afterwards');

  const after = JSON.stringify(h.exiftool(out));
  assert.doesNotMatch(after, /Ana Example|Ana's holiday|48\.858|48 deg 51|GPS/);
  const cliOut = path.join(dir, 'cli.mp4');
  const c = spawnSync(h.cli, ['strip', '-o', cliOut, big]);
  assert.equal(c.status, 0, String(c.stderr));
  assert.equal(sha256(out), sha256(cliOut), 'the same bytes as unmeta strip');
});

test('the thread pool does the work: timers fire during a long strip', async (t) => {
  if (!h.needTools(t, 'ffmpeg')) return;
  const dir = h.tmpdir('unmeta-node-stream-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const seed = path.join(dir, 'seed.mp4');
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i',
    'nullsrc=s=640x360:r=25,geq=random(1)*255:128:128', '-t', '2', '-c:v', 'mpeg4', '-q:v', '1',
    '-metadata', 'artist=Ana Example', seed]);
  assert.equal(r.status, 0, String(r.stderr));
  const input = fs.readFileSync(seed);
  // Eight strips of the clip at once: long enough for many 1 ms timers,
  // which could not fire if the strips ran on this thread.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const t0 = process.hrtime.bigint();
  const outs = await Promise.all(Array.from({ length: 8 }, () => unmeta.strip(input)));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  clearInterval(timer);
  assert.equal(new Set(outs.map((b) => crypto.createHash('sha256').update(b).digest('hex'))).size, 1);
  t.diagnostic(`${ticks} ticks in ${ms.toFixed(0)} ms`);
  assert.ok(ms < 20 || ticks >= 3, `${ticks} timer ticks in ${ms.toFixed(0)} ms`);
});

test('a refused stream fails with UnmetaError and leaves no spill file', async (t) => {
  const spill = h.tmpdir('unmeta-node-spill-');
  t.after(() => fs.rmSync(spill, { recursive: true, force: true }));
  const sink = new Writable({ write(c, e, cb) { cb(); } });
  await assert.rejects(
    pipeline(Readable.from([Buffer.from('not a photo, '), Buffer.from('not a video')]),
      unmeta.createStripStream({ tmpdir: spill }), sink),
    (e) => e instanceof unmeta.UnsupportedError && e.code === -4);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(fs.readdirSync(spill), []);
});

test('destroy() mid-way removes the spill folder', async (t) => {
  const spill = h.tmpdir('unmeta-node-spill-');
  t.after(() => fs.rmSync(spill, { recursive: true, force: true }));
  const s = unmeta.createStripStream({ tmpdir: spill });
  await new Promise((r) => s.write(fs.readFileSync(h.sample).subarray(0, 4000), r));
  assert.equal(fs.readdirSync(spill).length, 1, 'the input is being spilled');
  s.destroy();
  await new Promise((r) => s.once('close', r));
  assert.deepEqual(fs.readdirSync(spill), []);
});

test('the stream gives the bytes strip() gives', async () => {
  const chunks = [];
  const input = fs.readFileSync(h.sample);
  await pipeline(Readable.from([input.subarray(0, 100), input.subarray(100)]), unmeta.createStripStream(),
    new Writable({ write(c, e, cb) { chunks.push(c); cb(); } }));
  assert.deepEqual(Buffer.concat(chunks), await unmeta.strip(input));
  assert.throws(() => unmeta.createStripStream({ icc: 'sometimes' }), unmeta.InvalidArgumentError);
});
