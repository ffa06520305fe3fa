'use strict';
// The unmeta Node.js binding: strip, inspect and check photos and videos
// through libunmeta, off the main thread (libuv's thread pool), and a
// stream for large files. The native part is src/unmeta_node.c.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Duplex } = require('node:stream');

const native = loadNative();
const { classes, fromCode } = require('./errors').build(native);

function loadNative() {
  // UNMETA_NODE_ADDON names an addon built elsewhere (the meson build's,
  // which the project's tests use); otherwise node-gyp's.
  const candidates = [];
  if (process.env.UNMETA_NODE_ADDON) candidates.push(path.resolve(process.env.UNMETA_NODE_ADDON));
  candidates.push(path.join(__dirname, '..', 'build', 'Release', 'unmeta.node'));
  candidates.push(path.join(__dirname, '..', 'build', 'Debug', 'unmeta.node'));
  for (const file of candidates) {
    if (fs.existsSync(file)) return require(file);
  }
  const err = new Error('unmeta: the native addon is not built (tried ' + candidates.join(', ') +
                    '); run `npm install` in bindings/node, or set UNMETA_NODE_ADDON');
  err.code = 'MODULE_NOT_FOUND';
  throw err;
}

const OP_STRIP = 0, OP_INSPECT = 1, OP_CHECK = 2;

function constant(name) {
  const v = native.constant(name);
  if (v === undefined) throw new classes.InvalidArgumentError('this libunmeta does not know ' + name);
  return v;
}

// { icc, applyOrientation, keepDepth, keepMotion, limits } -> [[key, value]].
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
const KNOWN = new Set(['icc', 'applyOrientation', 'keepDepth', 'keepMotion', 'limits']);

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
  return pairs;
}

function inputArg(input) {
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (typeof input === 'string') return input;
  if (input instanceof URL) return require('node:url').fileURLToPath(input);
  throw new TypeError('the input must be a Buffer, a Uint8Array or a path');
}

async function call(op, input, outPath, options) {
  const r = await native.run(op, inputArg(input), outPath, optionPairs(options));
  if (r.code < 0) throw fromCode(r.code, r.message);
  return r;
}

// The report (docs/json.md) as a plain object.
function report(r) {
  return r.json === undefined ? undefined : JSON.parse(r.json);
}

/** The input without its metadata, as a Buffer. */
async function strip(input, options) {
  return (await call(OP_STRIP, input, null, options)).data;
}

/** { data, report }: the clean bytes and what was found and done. */
async function stripWithReport(input, options) {
  const r = await call(OP_STRIP, input, null, options);
  return { data: r.data, report: report(r) };
}

/** Strips the file at inPath into outPath (written atomically: a
 * temporary file renamed into place on success only); returns the report. */
async function stripFile(inPath, outPath, options) {
  if (typeof inPath !== 'string' || typeof outPath !== 'string') throw new TypeError('stripFile(inPath, outPath[, options])');
  return report(await call(OP_STRIP, inPath, outPath, options));
}

/** What the input reveals: { format, dirty, blocks, findings, notes }. */
async function inspect(input, options) {
  return report(await call(OP_INSPECT, input, null, options));
}

/** true when the input holds something privacy-relevant. */
async function check(input, options) {
  return (await call(OP_CHECK, input, null, options)).dirty;
}

// A stream that takes a photo or video in and gives it back clean. Every
// format needs the end of its input before it writes a byte (a broken
// input must leave no output; an MP4's moov may come last), so the input
// is spilled to a temporary file (mode 0600, in a private folder under
// os.tmpdir() or options.tmpdir), stripped file to file on the thread
// pool, and the result read back with backpressure. Memory stays constant
// whatever the size; the disk holds the input and the output meanwhile,
// and both files are removed at the end, on error and on destroy().
class StripStream extends Duplex {
  constructor(options = {}) {
    const { tmpdir, highWaterMark, ...stripOptions } = options;
    optionPairs(stripOptions); // refuse bad options now, not at the end
    super({ highWaterMark: highWaterMark ?? 1 << 18 });
    this._options = stripOptions;
    this._tmpRoot = tmpdir ?? os.tmpdir();
    this._dir = null;
    this._fd = null;
    this._reader = null;
    this.report = undefined;
  }

  _construct(cb) {
    fs.mkdtemp(path.join(this._tmpRoot, 'unmeta-'), (err, dir) => {
      if (err) return cb(err);
      this._dir = dir;
      fs.open(path.join(dir, 'in'), 'wx', 0o600, (err2, fd) => {
        if (err2) return cb(err2);
        this._fd = fd;
        cb();
      });
    });
  }

  _write(chunk, encoding, cb) {
    writeAll(this._fd, chunk, cb);
  }

  _writev(chunks, cb) {
    writeAll(this._fd, Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  _final(cb) {
    const fd = this._fd;
    this._fd = null;
    fs.close(fd, (err) => {
      if (err) return cb(err);
      const inPath = path.join(this._dir, 'in');
      const outPath = path.join(this._dir, 'out');
      stripFile(inPath, outPath, this._options).then((rep) => {
        this.report = rep;
        fs.unlink(inPath, () => {});
        const reader = fs.createReadStream(outPath, { highWaterMark: 1 << 18 });
        this._reader = reader;
        // Unlinked once open: the bytes live until the reader closes.
        reader.once('open', () => fs.unlink(outPath, () => {}));
        reader.on('data', (c) => { if (!this.push(c)) reader.pause(); });
        reader.on('end', () => { this.emit('report', rep); this.push(null); });
        reader.on('error', (e) => this.destroy(e));
        cb();
      }, cb);
    });
  }

  _read() {
    if (this._reader && this._reader.isPaused()) this._reader.resume();
  }

  _destroy(err, cb) {
    if (this._reader) this._reader.destroy();
    const done = () => {
      if (!this._dir) return cb(err);
      fs.rm(this._dir, { recursive: true, force: true }, () => cb(err));
    };
    if (this._fd !== null) {
      const fd = this._fd;
      this._fd = null;
      fs.close(fd, done);
    } else {
      done();
    }
  }
}

function writeAll(fd, buf, cb) {
  fs.write(fd, buf, 0, buf.length, null, (err, n) => {
    if (err) return cb(err);
    if (n < buf.length) return writeAll(fd, buf.subarray(n), cb);
    cb();
  });
}

/** A Duplex stream: write a photo or video in, read it back clean. */
function createStripStream(options) {
  return new StripStream(options);
}

module.exports = {
  strip,
  stripWithReport,
  stripFile,
  inspect,
  check,
  createStripStream,
  StripStream,
  formats: () => native.formats(),
  libraryVersion: () => native.version(),
  strerror: (code) => native.strerror(code),
  ...classes,
};
