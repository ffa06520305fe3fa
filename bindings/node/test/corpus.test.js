'use strict';
// The binding and the CLI give the same answer on real files: over a
// sample of ../shared/corpus (the first files of each folder), the same
// bytes when both clean a file, a refusal by both otherwise.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const zlib = require('node:zlib');
const unmeta = require('..');
const h = require('./helpers');

const PER_FOLDER = 5;

// Node exports its own zlib (a fork with other match-finding code), and its
// deflate() takes precedence over libz's for every library loaded into the
// process, libunmeta included. The compressed chunks a PNG strip rebuilds
// (a neutralised iCCP profile) then hold the same data deflated
// differently. Such a PNG counts as the same when its chunks are, in type
// and order, byte for byte, except compressed payloads that inflate alike.
const ZCHUNKS = { iCCP: 'keyword', zTXt: 'keyword', iTXt: 'itxt' };
function pngChunks(buf) {
  const out = [];
  for (let p = 8; p + 12 <= buf.length;) {
    const len = buf.readUInt32BE(p);
    out.push({ type: buf.toString('latin1', p + 4, p + 8), data: buf.subarray(p + 8, p + 8 + len) });
    p += 12 + len;
  }
  return out;
}
function inflated(type, data) {
  const nul = data.indexOf(0);
  let start = nul + 2; // keyword, NUL, method
  if (ZCHUNKS[type] === 'itxt') {
    if (data[nul + 1] === 0) return data; // not compressed
    const lang = data.indexOf(0, nul + 3);
    start = data.indexOf(0, lang + 1) + 1;
  }
  return Buffer.concat([data.subarray(0, start), zlib.inflateSync(data.subarray(start))]);
}
function samePngModuloDeflate(a, b) {
  if (a.subarray(0, 8).toString('latin1') !== '\x89PNG\r\n\x1a\n') return false;
  const ca = pngChunks(a), cb = pngChunks(b);
  if (ca.length !== cb.length) return false;
  let recompressed = 0;
  for (let i = 0; i < ca.length; i++) {
    if (ca[i].type !== cb[i].type) return false;
    if (ca[i].data.equals(cb[i].data)) continue;
    if (!(ca[i].type in ZCHUNKS) || !inflated(ca[i].type, ca[i].data).equals(inflated(cb[i].type, cb[i].data))) return false;
    recompressed++;
  }
  return recompressed > 0;
}

function sampleFiles(root) {
  const out = [];
  const walk = (dir) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    const files = entries.filter((e) => e.isFile() && !e.name.endsWith('.md') && !e.name.endsWith('.tsv'));
    out.push(...files.slice(0, PER_FOLDER).map((e) => path.join(dir, e.name)));
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  walk(root);
  return out;
}

test('node strips a corpus sample to the bytes `unmeta strip` writes', async (t) => {
  const corpus = path.join(h.shared, 'corpus');
  if (!h.need(t, '../shared/corpus', fs.existsSync(corpus))) return;
  const dir = h.tmpdir('unmeta-node-corpus-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = sampleFiles(corpus);
  assert.ok(files.length >= 40, `${files.length} files`);
  let same = 0, refused = 0;
  const redeflated = [];
  for (const [i, file] of files.entries()) {
    const rel = path.relative(corpus, file);
    const ext = path.extname(file);
    const cliOut = path.join(dir, `${i}.cli${ext}`);
    const nodeOut = path.join(dir, `${i}.node${ext}`);
    const c = spawnSync(h.cli, ['strip', '-o', cliOut, file]);
    let err = null;
    try {
      await unmeta.stripFile(file, nodeOut);
    } catch (e) {
      err = e;
    }
    if (c.status === 0) {
      assert.equal(err, null, `${rel}: the CLI cleans it, node says ${err && err.message}`);
      const a = fs.readFileSync(nodeOut), b = fs.readFileSync(cliOut);
      if (a.equals(b)) {
        same++;
      } else {
        assert.ok(samePngModuloDeflate(a, b), `${rel}: different bytes`);
        redeflated.push(rel);
      }
    } else {
      assert.ok(err instanceof unmeta.UnmetaError, `${rel}: the CLI refuses it (${c.stderr}), node does not`);
      assert.ok(!fs.existsSync(nodeOut), `${rel}: a refused file leaves no output`);
      refused++;
    }
  }
  t.diagnostic(`${files.length} files: ${same} byte-identical, ${refused} refused by both, ` +
               `${redeflated.length} PNG with chunks deflated by node's zlib (${redeflated.join(', ')})`);
  assert.ok(same >= 30, `${same} byte-identical`);
});
