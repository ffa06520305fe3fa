'use strict';
// In Node, the wasm package and the CLI give the same answer on every file
// of ../shared/corpus: the same bytes when the CLI cleans a file natively,
// a refusal by both otherwise, and for the files the CLI remuxes with
// FFmpeg a FeatureError ("not supported in this build"). Once with the
// default options, once with --icc=strip --apply-orientation (libjpeg-turbo's
// lossless rotation, built for wasm too).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers');
const unmeta = require('..');

const RUNS = [
  { name: 'default options', args: [], options: {} },
  { name: '--icc=strip --apply-orientation', args: ['--icc=strip', '--apply-orientation'], options: { icc: 'strip', applyOrientation: true } },
];

for (const run of RUNS) {
  test(`wasm in node strips ../shared/corpus to the CLI's bytes (${run.name})`, async (t) => {
    const { root, files } = h.corpusFiles();
    if (!h.need(t, '../shared/corpus', files.length > 0)) return;
    await unmeta.ready();
    const dir = h.tmpdir('unmeta-wasm-corpus-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    let same = 0, refused = 0, ffmpeg = 0;
    for (const [i, file] of files.entries()) {
      const rel = path.relative(root, file);
      const c = h.cliStrip(file, dir, `${i}.cli`, run.args);
      const out = path.join(dir, `${i}.wasm${path.extname(file)}`);
      let blob = null, err = null, fileErr = null;
      const bytes = fs.readFileSync(file);
      try {
        blob = await unmeta.strip(new Blob([bytes]), run.options);
      } catch (e) {
        err = e;
      }
      try {
        await unmeta.stripFile(file, out, run.options);
      } catch (e) {
        fileErr = e;
      }
      if (c.ffmpeg) {
        assert.ok(err instanceof unmeta.FeatureError, `${rel}: the CLI remuxes it with FFmpeg (${c.format}); wasm says ${err}`);
        assert.match(err.message, /this build/, `${rel}: ${err.message}`);
        assert.ok(fileErr instanceof unmeta.FeatureError, `${rel}: stripFile: ${fileErr}`);
        assert.ok(!fs.existsSync(out), `${rel}: a refused file leaves no output`);
        ffmpeg++;
      } else if (c.ok) {
        assert.equal(err, null, `${rel}: the CLI cleans it, wasm says ${err && err.message}`);
        assert.equal(fileErr, null, `${rel}: stripFile: ${fileErr && fileErr.message}`);
        const got = Buffer.from(await blob.arrayBuffer());
        assert.ok(got.equals(c.out), `${rel}: strip(Blob) wrote other bytes than the CLI (${got.length} vs ${c.out.length})`);
        assert.ok(fs.readFileSync(out).equals(c.out), `${rel}: stripFile wrote other bytes than the CLI`);
        fs.rmSync(out);
        same++;
      } else {
        assert.ok(err instanceof unmeta.UnmetaError, `${rel}: the CLI refuses it (${c.stderr.trim()}), wasm does not`);
        assert.ok(!(err instanceof unmeta.FeatureError), `${rel}: refused natively, yet a FeatureError in wasm: ${err.message}`);
        assert.ok(fileErr instanceof unmeta.UnmetaError, `${rel}: stripFile: ${fileErr}`);
        assert.ok(!fs.existsSync(out), `${rel}: a refused file leaves no output`);
        refused++;
      }
    }
    t.diagnostic(`${files.length} files: ${same} byte-identical, ${refused} refused by both, ${ffmpeg} FFmpeg's (FeatureError)`);
    assert.equal(same + refused + ffmpeg, files.length);
    assert.ok(same >= 100, `${same} byte-identical`);
  });
}
