#!/usr/bin/env node
'use strict';
// An upload endpoint (node:http, nothing else) that cleans a photo or video
// before it is stored: the request body streams through
// unmeta.createStripStream() into STORE/<id>.<ext>, which appears only when
// the strip succeeded (written under a temporary name, then renamed). The
// original bytes are never stored; memory stays constant whatever the size
// (the stream spills to os.tmpdir(), see lib/index.js).
//
//   node upload.js [STORE] [PORT]      # default ./uploads, 8000
//   curl --data-binary @IMG_1.jpg http://127.0.0.1:8000/upload
//
// UPLOAD_MAX_BYTES sets the largest upload (default 1 GiB).
// Answers 201 with {"id", "file", "format", "removed"} (findings removed by
// category); 413 beyond MAX_UPLOAD; 415 when no format unmeta knows claims
// the body; 422 for a damaged or truncated file; 404/405 elsewhere.
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { pipeline } = require('node:stream/promises');
const unmeta = require('../lib');

const MAX_UPLOAD = Number(process.env.UPLOAD_MAX_BYTES || 1 << 30); // bytes
const EXT = { jpeg: '.jpg', png: '.png', webp: '.webp', gif: '.gif', tiff: '.tif', dng: '.dng',
  heif: '.heic', jxl: '.jxl', mp4: '.mp4', media: '.bin' };

function answer(res, status, body) {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function statusOf(err) {
  if (err instanceof unmeta.UnsupportedError) return 415;
  if (err instanceof unmeta.LimitError || err.code === 'ETOOBIG') return 413;
  if (err instanceof unmeta.UnmetaError) return 422;
  return 500;
}

// Counts bytes on their way and stops past the limit.
function limiter(max) {
  let seen = 0;
  return async function* (source) {
    for await (const chunk of source) {
      seen += chunk.length;
      if (seen > max) {
        const e = new Error('upload larger than ' + max + ' bytes');
        e.code = 'ETOOBIG';
        throw e;
      }
      yield chunk;
    }
  };
}

function createServer(store) {
  fs.mkdirSync(store, { recursive: true });
  return http.createServer(async (req, res) => {
    if (req.url !== '/upload') return answer(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return answer(res, 405, { error: 'POST a file to /upload' });
    // A declared size over the limit is refused before reading a byte; a
    // chunked body is counted on its way (the connection is then cut).
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_UPLOAD) {
      res.setHeader('Connection', 'close');
      return answer(res, 413, { error: 'upload larger than ' + MAX_UPLOAD + ' bytes' });
    }
    const id = crypto.randomBytes(12).toString('hex');
    const partial = path.join(store, '.' + id + '.part');
    const cleaner = unmeta.createStripStream();
    try {
      await pipeline(req, limiter(MAX_UPLOAD), cleaner, fs.createWriteStream(partial, { flags: 'wx', mode: 0o644 }));
      const report = cleaner.report;
      const file = id + (EXT[report.format] || '.bin');
      fs.renameSync(partial, path.join(store, file));
      const removed = {};
      for (const f of report.findings) removed[f.category] = (removed[f.category] || 0) + 1;
      answer(res, 201, { id, file, format: report.format, removed });
    } catch (err) {
      fs.rmSync(partial, { force: true });
      // The rest of a refused body is read and dropped, so the client sees the answer.
      req.resume();
      answer(res, statusOf(err), { error: err.message, name: err.name });
    }
  });
}

module.exports = { createServer };

if (require.main === module) {
  const store = process.argv[2] || 'uploads';
  const port = Number(process.argv[3] || 8000);
  createServer(store).listen(port, '127.0.0.1', () => {
    process.stdout.write(`upload: http://127.0.0.1:${port}/upload -> ${path.resolve(store)}\n`);
  });
}
