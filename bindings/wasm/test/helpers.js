'use strict';
// Shared by the wasm package's tests: where things are, the corpus and what
// the CLI makes of each file. A missing tool skips the test, except under
// UNMETA_REQUIRE_TOOLS=1 (.ci/run), where it fails.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const here = path.join(__dirname, '..');
const sourceRoot = process.env.UNMETA_SOURCE_ROOT || path.join(here, '..', '..');
const shared = process.env.UNMETA_SHARED || path.join(sourceRoot, '..', 'shared');
const buildRoot = process.env.UNMETA_BUILD_ROOT || path.join(sourceRoot, 'build');
const cli = process.env.UNMETA || path.join(buildRoot, 'unmeta');
const dist = process.env.UNMETA_WASM_DIST || path.join(here, 'dist');
const sample = path.join(sourceRoot, 'examples', 'sample.jpg');
process.env.UNMETA_WASM_DIST = dist; // for require('..')

function have(tool) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;
}

function need(t, what, ok) {
  if (ok) return true;
  if (process.env.UNMETA_REQUIRE_TOOLS === '1') {
    throw new Error(`${what} is missing (UNMETA_REQUIRE_TOOLS=1: scripts/bootstrap should install it)`);
  }
  t.skip(`${what} is missing`);
  return false;
}

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Every file of ../shared/corpus (not its notes), sorted.
function corpusFiles() {
  const root = path.join(shared, 'corpus');
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !/\.(md|tsv)$/.test(e.name)) out.push(p);
    }
  };
  if (fs.existsSync(root)) walk(root);
  return { root, files: out };
}

// The module names the formats FFmpeg remuxes in native builds by what
// `unmeta inspect --json` calls them: anything but the native modules.
const NATIVE = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'dng', 'heif', 'jxl', 'mp4']);

// What the CLI does with file: { ok, out (Buffer, when ok), stderr, format
// (from inspect, or null when inspect refuses it), ffmpeg (the CLI hands it
// to libavformat) }. args: extra strip options.
function cliStrip(file, dir, tag, args = []) {
  const out = path.join(dir, tag + path.extname(file));
  const r = spawnSync(cli, ['strip', ...args, '-f', '-o', out, file], { encoding: 'utf8' });
  const i = spawnSync(cli, ['inspect', '--json', file], { encoding: 'utf8' });
  let format = null;
  try { format = JSON.parse(i.stdout).format; } catch { /* refused */ }
  const res = { ok: r.status === 0, stderr: r.stderr, format, ffmpeg: typeof format === 'string' && !NATIVE.has(format) };
  if (res.ok) {
    res.out = fs.readFileSync(out);
    fs.rmSync(out);
  }
  return res;
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };

// Serves the source tree, with /bindings/wasm/dist/ from the build; every
// request is logged, to check that nothing else is asked for.
function serve() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    requests.push(url.pathname);
    let file;
    if (url.pathname.startsWith('/bindings/wasm/dist/')) file = path.join(dist, url.pathname.slice('/bindings/wasm/dist/'.length));
    else file = path.join(sourceRoot, decodeURIComponent(url.pathname));
    if (url.pathname.endsWith('/')) file = path.join(file, 'index.html');
    const inside = file.startsWith(sourceRoot + path.sep) || file.startsWith(dist + path.sep);
    if (!inside || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, requests, port: server.address().port })));
}

// Peak resident memory of this process, from /proc/self/status, in bytes.
function peakRss() {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

module.exports = { here, sourceRoot, shared, buildRoot, cli, dist, sample, have, need, tmpdir, corpusFiles, cliStrip, NATIVE, peakRss, serve };
