// unmeta in the browser: `<script src=".../lib/browser.js">` (or
// importScripts() in a Worker) defines globalThis.unmeta with the Node
// binding's API: strip(Blob|File|Uint8Array, options) -> Promise<Blob>,
// stripWithReport, inspect, check. On a page, every call runs in a Worker
// (lib/worker.js), which reads the input through FileReaderSync over
// Blob.slice() as the module asks for it and gathers the output as a Blob of
// parts: a 1 GB video is cleaned off the main thread, in constant memory (the
// output Blob's parts stay where the browser keeps Blobs). Inside a Worker the
// calls run right there, the same way. The module is ../dist/unmeta.{js,wasm}
// beside this folder (npm run build), fetched once; nothing else is loaded.
(function (root) {
'use strict';

const inWorker = typeof importScripts === 'function' && typeof document === 'undefined';
const base = inWorker
  ? new URL('.', self.location.href).href
  : new URL('.', document.currentScript.src).href;

function isBlob(x) { return typeof Blob !== 'undefined' && x instanceof Blob; }
function checkInput(input) {
  if (!isBlob(input) && !(input instanceof Uint8Array)) throw new TypeError('the input must be a Blob, a File or a Uint8Array');
}

function inlineApi(libBase) {
  // In a Worker: load the pieces synchronously and run here.
  importScripts(libBase + 'errors.js', libBase + 'core.js', libBase + '../dist/unmeta.js');
  const core = self.unmetaCore;
  let bound = null;
  const ready = fetch(libBase + '../dist/unmeta.wasm').then((r) => {
    if (!r.ok) throw new Error('unmeta: cannot load ' + r.url + ' (' + r.status + ')');
    return r.arrayBuffer();
  }).then((wasmBinary) => self.createUnmetaModule({ wasmBinary })).then((Module) => {
    bound = core.bind(Module, self.unmetaErrors);
    return bound;
  });
  const reader = (input) => (isBlob(input) ? core.blobReader(input) : core.memoryReader(input));
  async function stripWithReport(input, options) {
    checkInput(input);
    const a = await ready;
    const w = core.partsWriter();
    const { report } = a.run(core.OP_STRIP, reader(input), w, options);
    return { data: new Blob(w.finish(), { type: isBlob(input) ? input.type : '' }), report };
  }
  return {
    ready: () => ready.then(() => undefined),
    stripWithReport,
    strip: async (input, options) => (await stripWithReport(input, options)).data,
    inspect: async (input, options) => { checkInput(input); return (await ready).run(core.OP_INSPECT, reader(input), null, options).report; },
    check: async (input, options) => { checkInput(input); return (await ready).run(core.OP_CHECK, reader(input), null, options).dirty; },
    formats: () => loaded().formats(),
    libraryVersion: () => loaded().libraryVersion(),
    get classes() { return bound ? bound.classes : undefined; },
  };
  function loaded() {
    if (!bound) throw new Error('unmeta: await ready() first');
    return bound;
  }
}

function workerApi(libBase) {
  // On a page: one Worker does the work; calls are queued to it in order.
  const worker = new Worker(libBase + 'worker.js');
  const pending = new Map();
  let nextId = 1;
  let classes = null;
  let info = null;
  let readyResolve, readyReject;
  const ready = new Promise((res, rej) => { readyResolve = res; readyReject = rej; });
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.type === 'ready') {
      // The error classes, numbered by the module's own constants.
      classes = root.unmetaErrorsFromConstants(m.constants).classes;
      info = m;
      readyResolve();
      return;
    }
    if (m.type === 'fatal') { readyReject(new Error(m.message)); return; }
    const p = pending.get(m.id);
    if (!p) return;
    if (m.type === 'progress') { if (p.onProgress) p.onProgress(m.done, m.total); return; }
    pending.delete(m.id);
    if (m.type === 'error') {
      const cls = (m.className && classes[m.className]) || (m.className === 'TypeError' ? TypeError : Error);
      const err = cls === TypeError || cls === Error ? new cls(m.message) : new cls(m.message, m.code);
      p.reject(err);
    } else {
      p.resolve(m.result);
    }
  };
  worker.onerror = (e) => readyReject(new Error('unmeta: the worker failed: ' + (e.message || e)));
  function loaded() {
    if (!info) throw new Error('unmeta: await ready() first');
    return info;
  }
  function call(op, input, options) {
    checkInput(input);
    const { onProgress, ...rest } = options || {};
    if (onProgress !== undefined && typeof onProgress !== 'function') return Promise.reject(new TypeError('onProgress must be a function'));
    return ready.then(() => new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject, onProgress });
      worker.postMessage({ id, op, input, options: rest, progress: !!onProgress });
    }));
  }
  return {
    ready: () => ready,
    stripWithReport: (input, options) => call('strip', input, options),
    strip: async (input, options) => (await call('strip', input, options)).data,
    inspect: (input, options) => call('inspect', input, options),
    check: (input, options) => call('check', input, options),
    formats: () => loaded().formats,
    libraryVersion: () => loaded().version,
    get classes() { return classes; },
    worker,
  };
}

if (inWorker) {
  // A Worker that imported this file: its own URL does not tell where the
  // package is, so it says so first (self.UNMETA_LIB = '.../lib/'), unless
  // it is this package's worker.js, which sits beside us.
  root.unmeta = inlineApi(root.UNMETA_LIB || base);
} else {
  // errors.js, loaded by its own <script> tag first, gives the error classes.
  if (!root.unmetaErrors) throw new Error('unmeta: load lib/errors.js before lib/browser.js');
  root.unmetaErrorsFromConstants = (constants) => root.unmetaErrors.build({ constant: (name) => constants[name] });
  root.unmeta = workerApi(base);
}
// The error classes as in Node: unmeta.UnmetaError now, the others (numbered
// by the module) once ready() has resolved.
root.unmeta.UnmetaError = root.unmetaErrors.UnmetaError;
for (const n of ['InvalidArgumentError', 'OutOfMemoryError', 'InputOutputError', 'UnsupportedError', 'MalformedError',
  'TruncatedError', 'LimitError', 'StateError', 'CanceledError', 'FeatureError', 'ExpiredError', 'CryptoError', 'NoKeyError']) {
  Object.defineProperty(root.unmeta, n, {
    enumerable: true,
    get() { const c = root.unmeta.classes; if (!c) throw new Error('unmeta: await ready() first'); return c[n]; },
  });
}
})(typeof self !== 'undefined' ? self : this);
