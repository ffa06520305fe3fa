// The environment-free part of the wasm package: options, errors, and one
// run of strip/inspect/check over the ABI's callback I/O. The caller gives
// a reader ({ size, read(offset, length) -> Uint8Array } or { size,
// readInto(target, offset) -> bytes read }, synchronous) and, for strip, a
// writer ({ write(Uint8Array) } or { writeNow(view) }); the module pulls the input
// through reader.read() as it parses and pushes the output through
// writer.write() as it goes, so memory stays constant whatever the size
// (src/unmeta_wasm.c). Loaded by require() in Node and by importScripts()
// in a Worker (unmetaCore).
(function (root) {
'use strict';

const OP_STRIP = 0, OP_INSPECT = 1, OP_CHECK = 2;

const LIMITS = {
  maxBlockSize: 'UNMETA_OPT_MAX_BLOCK_SIZE',
  maxDepth: 'UNMETA_OPT_MAX_DEPTH',
  maxItems: 'UNMETA_OPT_MAX_ITEMS',
  maxMemory: 'UNMETA_OPT_MAX_MEMORY',
  spoolLimit: 'UNMETA_OPT_SPOOL_LIMIT',
  maxInflate: 'UNMETA_OPT_MAX_INFLATE',
  maxSpool: 'UNMETA_OPT_MAX_SPOOL',
  maxGrowth: 'UNMETA_OPT_MAX_GROWTH',
};
// The Node binding's options, and onProgress(done, total) (this package's
// own: the browser shows progress on long files).
const KNOWN = new Set(['icc', 'applyOrientation', 'keepDepth', 'keepMotion', 'limits', 'onProgress']);

// Wraps an instantiated emscripten module (dist/unmeta.js).
function bind(Module, errorsApi) {
  const constants = new Map();
  function constantOrUndefined(name) {
    if (constants.has(name)) return constants.get(name);
    const n = Module.lengthBytesUTF8(name) + 1;
    const p = Module._malloc(n);
    Module.stringToUTF8(name, p, n);
    const v = Module._umw_constant(p);
    Module._free(p);
    const r = Number.isNaN(v) ? undefined : v;
    constants.set(name, r);
    return r;
  }
  const { classes, fromCode } = errorsApi.build({ constant: constantOrUndefined });
  function constant(name) {
    const v = constantOrUndefined(name);
    if (v === undefined) throw new classes.InvalidArgumentError('this libunmeta does not know ' + name);
    return v;
  }

  function optionPairs(options) {
    if (options === undefined || options === null) return [];
    if (typeof options !== 'object') throw new TypeError('options must be an object');
    for (const k of Object.keys(options)) {
      if (!KNOWN.has(k)) throw new classes.InvalidArgumentError('unknown option ' + JSON.stringify(k));
    }
    const pairs = [];
    const { icc = 'keep', applyOrientation = false, keepDepth = false, keepMotion = false, limits = {} } = options;
    if (icc !== 'keep' && icc !== 'strip') {
      throw new classes.InvalidArgumentError("icc must be 'keep' (neutralised) or 'strip', not " + JSON.stringify(icc));
    }
    pairs.push([constant('UNMETA_OPT_ICC'), constant(icc === 'keep' ? 'UNMETA_ICC_KEEP' : 'UNMETA_ICC_STRIP')]);
    pairs.push([constant('UNMETA_OPT_APPLY_ORIENTATION'), applyOrientation ? 1 : 0]);
    pairs.push([constant('UNMETA_OPT_KEEP_DEPTH'), keepDepth ? 1 : 0]);
    pairs.push([constant('UNMETA_OPT_KEEP_MOTION'), keepMotion ? 1 : 0]);
    for (const [k, v] of Object.entries(limits)) {
      if (!(k in LIMITS)) throw new classes.InvalidArgumentError('unknown limit ' + JSON.stringify(k));
      if (!Number.isSafeInteger(v) || v < 0) throw new classes.InvalidArgumentError(k + ' must be a non-negative integer');
      pairs.push([constant(LIMITS[k]), v]);
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new TypeError('onProgress must be a function');
    }
    return pairs;
  }

  // The callbacks src/unmeta_wasm.c calls, per job.
  const jobs = new Map();
  let nextJob = 1;
  Module.umRead = (id, buf, size) => {
    const j = jobs.get(id);
    try {
      const n = Math.min(size, j.reader.size - j.pos);
      if (n <= 0) return 0;
      let got;
      if (j.reader.readInto) {
        // Straight into the module's memory (Node's fs.readSync): no copy.
        got = j.reader.readInto(Module.HEAPU8.subarray(buf, buf + n), j.pos);
      } else {
        const data = j.reader.read(j.pos, n);
        Module.HEAPU8.set(data, buf);
        got = data.length;
      }
      j.pos += got;
      return got;
    } catch (e) {
      j.error = j.error || e;
      return -1;
    }
  };
  Module.umSeek = (id, offset, whence) => {
    const j = jobs.get(id);
    const base = whence === 0 ? 0 : whence === 1 ? j.pos : j.reader.size;
    const to = base + offset;
    if (to < 0) return -1;
    j.pos = to;
    return to;
  };
  Module.umWrite = (id, buf, size) => {
    const j = jobs.get(id);
    try {
      // writeNow() takes a view of the module's memory and is done with it
      // when it returns (Node's fs.writeSync); write() keeps what it is
      // given, so it gets a copy: the memory is reused, and moves when it grows.
      if (j.writer.writeNow) j.writer.writeNow(Module.HEAPU8.subarray(buf, buf + size));
      else j.writer.write(Module.HEAPU8.slice(buf, buf + size));
      return size;
    } catch (e) {
      j.error = j.error || e;
      return -1;
    }
  };
  Module.umProgress = (id, done, total) => {
    const j = jobs.get(id);
    if (!j.onProgress) return 0;
    try {
      return j.onProgress(done, total) === false ? 1 : 0;
    } catch (e) {
      j.error = j.error || e;
      return 1;
    }
  };

  // One operation, synchronously. Returns { report, dirty } or throws an
  // UnmetaError (or what a reader or writer threw).
  function run(op, reader, writer, options) {
    const pairs = optionPairs(options);
    const id = nextJob++;
    const job = { reader, writer, pos: 0, error: null, onProgress: options && options.onProgress };
    jobs.set(id, job);
    const mem = Module._malloc(8 + pairs.length * 12 + 8);
    try {
      const keys = mem + 8, values = (keys + pairs.length * 4 + 7) & ~7;
      const heap32 = new Int32Array(Module.HEAPU8.buffer);
      const heapf64 = new Float64Array(Module.HEAPU8.buffer);
      pairs.forEach(([k, v], i) => {
        heap32[(keys >> 2) + i] = k;
        heapf64[(values >> 3) + i] = v;
      });
      const rc = Module._umw_run(mem, mem + 4, op, id, pairs.length, keys, values);
      const h32 = new Int32Array(Module.HEAPU8.buffer); // memory may have grown
      const jsonPtr = h32[mem >> 2], dirty = h32[(mem >> 2) + 1];
      const text = jsonPtr ? Module.UTF8ToString(jsonPtr) : '';
      if (jsonPtr) Module._free(jsonPtr);
      if (job.error) throw job.error;
      if (rc < 0) throw fromCode(rc, text);
      return { report: text && op !== OP_CHECK ? JSON.parse(text) : undefined, dirty: !!dirty };
    } finally {
      Module._free(mem);
      jobs.delete(id);
    }
  }

  function formats() {
    const out = [];
    for (let i = 0, n = Module._unmeta_format_count(); i < n; i++) out.push(Module.UTF8ToString(Module._unmeta_format_name(i)));
    return out;
  }

  return {
    run,
    optionPairs,
    classes,
    formats,
    libraryVersion: () => Module.UTF8ToString(Module._unmeta_version_string()),
    strerror: (code) => Module.UTF8ToString(Module._unmeta_strerror(code)),
  };
}

// A reader over bytes in memory.
function memoryReader(bytes) {
  return { size: bytes.length, read: (off, n) => bytes.subarray(off, off + n) };
}

// A reader over a Blob in a Worker: FileReaderSync over Blob.slice(), a
// block of 1 MiB at a time (the library reads in small pieces).
function blobReader(blob, block = 1 << 20) {
  const fr = new FileReaderSync();
  let start = -1, data = null;
  return {
    size: blob.size,
    read(off, n) {
      if (data === null || off < start || off >= start + data.length) {
        start = off;
        data = new Uint8Array(fr.readAsArrayBuffer(blob.slice(off, Math.min(blob.size, off + Math.max(n, block)))));
      }
      const at = off - start;
      return data.subarray(at, Math.min(data.length, at + n));
    },
  };
}

// A writer that gathers the output into parts of about 1 MiB, folded into
// a Blob every 16 MiB: the bytes then belong to the browser's Blob store
// (Chromium keeps large Blobs on disk), not to this Worker's heap. finish()
// gives the parts for the final Blob.
function partsWriter(part = 1 << 20, fold = 16 << 20) {
  const blobs = [];
  let parts = [], partsSize = 0;
  let pending = [], pendingSize = 0;
  function flush() {
    if (pendingSize === 0) return;
    if (pending.length === 1) parts.push(pending[0]);
    else {
      const buf = new Uint8Array(pendingSize);
      let at = 0;
      for (const p of pending) { buf.set(p, at); at += p.length; }
      parts.push(buf);
    }
    partsSize += pendingSize;
    pending = [];
    pendingSize = 0;
    if (partsSize >= fold && typeof Blob !== 'undefined') {
      blobs.push(new Blob(parts));
      parts = [];
      partsSize = 0;
    }
  }
  return {
    write(bytes) {
      pending.push(bytes);
      pendingSize += bytes.length;
      if (pendingSize >= part) flush();
    },
    finish() { flush(); return blobs.concat(parts); },
  };
}

const api = { OP_STRIP, OP_INSPECT, OP_CHECK, bind, memoryReader, blobReader, partsWriter };
if (typeof module === 'object' && module.exports) module.exports = api;
else root.unmetaCore = api;
})(typeof self !== 'undefined' ? self : this);
