'use strict';
// examples/upload.js: a POSTed photo is stored clean (exiftool finds none
// of its metadata, the bytes are strip()'s); a file unmeta refuses is
// answered 415/422 and nothing is stored.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const unmeta = require('..');
process.env.UPLOAD_MAX_BYTES = String(1 << 20);
const { createServer } = require('../examples/upload');
const h = require('./helpers');

function post(port, body, url = '/upload') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: url, method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks)) }));
    });
    req.on('error', reject);
    // Sent in pieces, as a client on a network would.
    for (let i = 0; i < body.length; i += 1000) req.write(body.subarray(i, i + 1000));
    req.end();
  });
}

test('the upload example stores only clean files', async (t) => {
  const store = h.tmpdir('unmeta-node-upload-');
  t.after(() => fs.rmSync(store, { recursive: true, force: true }));
  const server = createServer(store);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const { port } = server.address();
  const photo = fs.readFileSync(h.sample);

  const ok = await post(port, photo);
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.format, 'jpeg');
  assert.ok(ok.body.removed.location >= 1 && ok.body.removed.device >= 1, JSON.stringify(ok.body.removed));
  const stored = path.join(store, ok.body.file);
  assert.match(ok.body.file, /^[0-9a-f]{24}\.jpg$/);
  assert.deepEqual(fs.readFileSync(stored), await unmeta.strip(photo));
  if (h.needTools(t, 'exiftool')) {
    const tags = JSON.stringify(h.exiftool(stored));
    assert.doesNotMatch(tags, /Pixelphone|PX7-004211-88|Ana Example|GPS|holiday at home|PhotoApp/);
  }

  const bad = await post(port, Buffer.from('GIF89a but then nothing a decoder could use'));
  assert.ok(bad.status === 422 || bad.status === 415, JSON.stringify(bad));
  const junk = await post(port, Buffer.alloc(5000, 0x41));
  assert.equal(junk.status, 415, JSON.stringify(junk));
  assert.equal(junk.body.name, 'UnsupportedError');
  const cut = await post(port, photo.subarray(0, 5000));
  assert.equal(cut.status, 422, JSON.stringify(cut));
  assert.equal((await post(port, photo, '/elsewhere')).status, 404);
  // UPLOAD_MAX_BYTES is 1 MiB here: a 2 MiB upload is refused unread.
  const big = Buffer.concat([photo, Buffer.alloc(2 << 20)]);
  const tooBig = await post(port, big);
  assert.equal(tooBig.status, 413, JSON.stringify(tooBig));
  assert.deepEqual(fs.readdirSync(store), [ok.body.file], 'only the clean file is stored');
});
