'use strict';
// A long video in constant memory: an MP4 of UNMETA_WASM_BIG_MB MiB (1 GiB by
// default; about 10 s here, the disk holding two such files at once) made by ffmpeg from a short clip
// looped without re-encoding, with location, device and dates, is stripped
// by stripFile() in a child process whose peak RSS (VmHWM) must stay under
// 128 MiB, into the same bytes as `unmeta strip`.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const h = require('./helpers');

const MB = Number(process.env.UNMETA_WASM_BIG_MB || 1024);
const MiB = 1 << 20;
const RSS_LIMIT = 128 * MiB;

function sha256(file) {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(4 * MiB);
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test(`a ${MB} MiB MP4 is cleaned in constant memory, as the CLI cleans it`, { timeout: 600000 }, (t) => {
  if (!h.need(t, 'ffmpeg', h.have('ffmpeg'))) return;
  const dir = h.tmpdir('unmeta-wasm-big-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const clip = path.join(dir, 'clip.mp4');
  run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=25:d=2,noise=alls=60:allf=t',
    '-f', 'lavfi', '-i', 'sine=d=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '2', '-c:a', 'aac', clip]);
  const loops = Math.max(0, Math.ceil((MB * MiB) / fs.statSync(clip).size) - 1);
  const big = path.join(dir, 'big.mp4');
  run('ffmpeg', ['-v', 'error', '-y', '-stream_loop', String(loops), '-i', clip, '-c', 'copy',
    '-metadata', 'location=+48.8583+002.2945/', '-metadata', 'make=Pixelphone', '-metadata', 'model=PX-7',
    '-metadata', 'creation_time=2026-07-14T18:42:07Z', '-movflags', 'use_metadata_tags', big]);
  fs.rmSync(clip);
  const size = fs.statSync(big).size;
  assert.ok(size >= MB * MiB * 0.95, `${size} bytes made`);
  const out = path.join(dir, 'wasm.mp4');
  const child = `
    const unmeta = require(${JSON.stringify(h.here)});
    const fs = require('node:fs');
    const t0 = Date.now();
    unmeta.stripFile(process.argv[1], process.argv[2]).then((report) => {
      const hwm = /VmHWM:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
      console.log(JSON.stringify({ hwm: Number(hwm) * 1024, ms: Date.now() - t0, format: report.format, dirty: report.dirty }));
    });`;
  const r = spawnSync(process.execPath, ['-e', child, big, out], { encoding: 'utf8', env: { ...process.env, UNMETA_WASM_DIST: h.dist } });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout.trim().split('\n').pop());
  t.diagnostic(`${(size / MiB).toFixed(0)} MiB MP4 in ${(m.ms / 1000).toFixed(1)} s, peak RSS ${(m.hwm / MiB).toFixed(1)} MiB`);
  assert.equal(m.format, 'mp4');
  assert.equal(m.dirty, true);
  assert.ok(m.hwm < RSS_LIMIT, `peak RSS ${m.hwm} bytes, over ${RSS_LIMIT}`);
  const wasmSum = sha256(out);
  fs.rmSync(out);
  const cliOut = path.join(dir, 'cli.mp4');
  run(h.cli, ['strip', '-o', cliOut, big]);
  fs.rmSync(big);
  assert.equal(wasmSum, sha256(cliOut), 'the same bytes as the CLI');
});
