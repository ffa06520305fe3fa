// The Worker behind lib/browser.js on a page: it loads the module, runs
// each call it is sent (in order, one at a time) and answers with the
// result: a Blob of parts for strip, the report for inspect, a boolean for
// check. Inputs are Blobs (read by FileReaderSync over Blob.slice(), as the
// module asks) or Uint8Arrays. Progress is posted at most every 100 ms.
'use strict';
self.UNMETA_LIB = new URL('.', self.location.href).href;
importScripts(self.UNMETA_LIB + 'browser.js'); // in a Worker: runs inline (self.unmeta)

const api = self.unmeta;
api.ready().then(async () => {
  // The numbers behind the error classes, for the page's copies of them.
  const constants = {};
  for (const [name, cls] of Object.entries(api.classes)) {
    if (cls.constantName) constants[cls.constantName] = cls.code;
  }
  self.postMessage({ type: 'ready', constants, formats: await api.formats(), version: await api.libraryVersion() });
}, (e) => self.postMessage({ type: 'fatal', message: String(e && e.message || e) }));

self.onmessage = async (e) => {
  const { id, op, input, options, progress } = e.data;
  let last = 0;
  const opts = { ...options };
  if (progress) {
    opts.onProgress = (done, total) => {
      const now = Date.now();
      if (now - last >= 100 || done === total) {
        last = now;
        self.postMessage({ type: 'progress', id, done, total });
      }
    };
  }
  try {
    let result;
    if (op === 'strip') result = await api.stripWithReport(input, opts);
    else if (op === 'inspect') result = await api.inspect(input, opts);
    else if (op === 'check') result = await api.check(input, opts);
    else throw new TypeError('unknown operation ' + op);
    self.postMessage({ type: 'result', id, result });
  } catch (err) {
    const className = err instanceof api.UnmetaError ? err.name : err instanceof TypeError ? 'TypeError' : 'Error';
    self.postMessage({ type: 'error', id, className, code: err.code, message: String(err && err.message || err) });
  }
};
