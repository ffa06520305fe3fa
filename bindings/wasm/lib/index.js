'use strict';
// unmeta in Node through WebAssembly: the Node binding's API (strip,
// inspect, check, stripFile...) over dist/unmeta.wasm, with no native addon.
// The module runs on the calling thread, synchronously inside each promise.
// Large files go by path (a string or a file: URL): read with fs.readSync
// and, for stripFile(), written with fs.writeSync, in constant memory.
// A Blob is read whole first (Node has no synchronous read of a Blob).

const fs = require('node:fs');
const path = require('node:path');
const core = require('./core');
const errorsApi = require('./errors');

function distDir() {
  return process.env.UNMETA_WASM_DIST ? path.resolve(process.env.UNMETA_WASM_DIST) : path.join(__dirname, '..', 'dist');
}

let api = null;
let loading = null;
function load() {
  if (api) return Promise.resolve(api);
  if (!loading) {
    const dir = distDir();
    const js = path.join(dir, 'unmeta.js'), wasm = path.join(dir, 'unmeta.wasm');
    if (!fs.existsSync(js) || !fs.existsSync(wasm)) {
      const err = new Error('unmeta: the wasm module is not built (no ' + js + '); run `npm run build` in bindings/wasm, or set UNMETA_WASM_DIST');
      err.code = 'MODULE_NOT_FOUND';
      return Promise.reject(err);
    }
    // wasmBinary: emscripten 3.1.6's loader would fetch() the .wasm in Node 18+.
    loading = require(js)({ wasmBinary: fs.readFileSync(wasm) }).then((Module) => {
      api = core.bind(Module, errorsApi);
      return api;
    });
  }
  return loading;
}

function isBlob(x) {
  return typeof Blob !== 'undefined' && x instanceof Blob;
}

// A reader over a file by descriptor, straight into the module's memory
// (the library reads through its own window of 256 KiB).
function fdReader(fd) {
  return {
    size: fs.fstatSync(fd).size,
    readInto: (target, off) => fs.readSync(fd, target, 0, target.length, off),
  };
}

function inputPath(input) {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return require('node:url').fileURLToPath(input);
  return null;
}

// Runs op with a reader over input; calls body(reader) and closes what it opened.
async function withReader(input, body) {
  const p = inputPath(input);
  if (p !== null) {
    const fd = fs.openSync(p, 'r');
    try {
      return body(fdReader(fd));
    } finally {
      fs.closeSync(fd);
    }
  }
  if (isBlob(input)) return body(core.memoryReader(new Uint8Array(await input.arrayBuffer())));
  if (input instanceof Uint8Array) return body(core.memoryReader(input));
  throw new TypeError('the input must be a Blob, a File, a Uint8Array, a Buffer or a path');
}

async function stripWithReport(input, options) {
  const a = await load();
  return withReader(input, (reader) => {
    const w = core.partsWriter();
    const { report } = a.run(core.OP_STRIP, reader, w, options);
    const type = isBlob(input) ? input.type : '';
    return { data: new Blob(w.finish(), { type }), report };
  });
}

/** The input without its metadata, as a Blob. */
async function strip(input, options) {
  return (await stripWithReport(input, options)).data;
}

/** Strips the file at inPath into outPath, in constant memory: written to a
 * temporary file beside outPath, renamed into place on success only. */
async function stripFile(inPath, outPath, options) {
  if (typeof inPath !== 'string' || typeof outPath !== 'string') throw new TypeError('stripFile(inPath, outPath[, options])');
  const a = await load();
  const tmp = path.join(path.dirname(outPath), '.' + path.basename(outPath) + '.unmeta-' + process.pid + '-' + Date.now());
  const out = fs.openSync(tmp, 'wx', 0o666);
  let ok = false;
  try {
    const report = await withReader(inPath, (reader) => a.run(core.OP_STRIP, reader, {
      writeNow(bytes) {
        for (let at = 0; at < bytes.length;) at += fs.writeSync(out, bytes, at, bytes.length - at);
      },
    }, options).report);
    fs.closeSync(out);
    fs.renameSync(tmp, outPath);
    ok = true;
    return report;
  } finally {
    if (!ok) {
      try { fs.closeSync(out); } catch { /* closed already */ }
      fs.rmSync(tmp, { force: true });
    }
  }
}

/** What the input reveals: { format, dirty, blocks, findings, notes }. */
async function inspect(input, options) {
  const a = await load();
  return withReader(input, (reader) => a.run(core.OP_INSPECT, reader, null, options).report);
}

/** true when the input holds something privacy-relevant. */
async function check(input, options) {
  const a = await load();
  return withReader(input, (reader) => a.run(core.OP_CHECK, reader, null, options).dirty);
}

module.exports = {
  strip,
  stripWithReport,
  stripFile,
  inspect,
  check,
  /** Resolves once the module is loaded; formats(), libraryVersion() and strerror() need it. */
  ready: () => load().then(() => undefined),
  formats: () => { if (!api) throw new Error('unmeta: await ready() first'); return api.formats(); },
  libraryVersion: () => { if (!api) throw new Error('unmeta: await ready() first'); return api.libraryVersion(); },
  strerror: (code) => { if (!api) throw new Error('unmeta: await ready() first'); return api.strerror(code); },
};

// The error classes need the module's numbers; they exist once it is
// loaded, and `unmeta.UnmetaError` is the base class from the start.
module.exports.UnmetaError = errorsApi.UnmetaError;
const NAMES = ['InvalidArgumentError', 'OutOfMemoryError', 'InputOutputError', 'UnsupportedError', 'MalformedError',
  'TruncatedError', 'LimitError', 'StateError', 'CanceledError', 'FeatureError', 'ExpiredError', 'CryptoError', 'NoKeyError'];
for (const n of NAMES) {
  Object.defineProperty(module.exports, n, {
    enumerable: true,
    get() { if (!api) throw new Error('unmeta: await ready() first'); return api.classes[n]; },
  });
}
