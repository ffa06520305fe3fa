'use strict';
// A real browser: Debian's headless Chromium, driven by playwright-core,
// loads examples/web from a local server, is given files of
// ../shared/corpus through the page's file input, and the clean copies it
// offers are downloaded (read through their object URLs, for the corpus) and compared with `unmeta strip -o OUT IN`: the
// same bytes, or a refusal by both (with the "not supported in this build"
// error for the files the CLI remuxes with FFmpeg). A screenshot of the
// page after cleaning examples/sample.jpg is left in the build folder
// (docs/wasm-page.png is a copy of one).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers');

const CHROMIUM = process.env.UNMETA_CHROMIUM || '/usr/bin/chromium';

function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch {
    return null;
  }
}

async function openPage(t) {
  const pw = loadPlaywright();
  if (!h.need(t, 'playwright-core (npm ci in bindings/wasm)', pw !== null)) return null;
  if (!h.need(t, CHROMIUM + ' (Debian package chromium)', fs.existsSync(CHROMIUM))) return null;
  const srv = await h.serve();
  const browser = await pw.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 760 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  t.after(async () => {
    await browser.close();
    srv.server.close();
  });
  await page.goto(`http://127.0.0.1:${srv.port}/examples/web/`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
  return { page, srv, errors };
}

// Gives the page files and waits until each has an answer; returns the
// list items (li.done or li.failed), in order.
async function feed(page, files) {
  const before = await page.locator('#results > li').count();
  await page.setInputFiles('#files', files);
  const want = before + files.length;
  await page.waitForFunction((n) => document.querySelectorAll('#results > li.done, #results > li.failed').length >= n,
    want, { timeout: 120000, polling: 100 });
  const items = [];
  for (let i = before; i < want; i++) items.push(page.locator('#results > li').nth(i));
  return items;
}

// The clean file as the page offers it: clicked and saved as a download.
async function download(page, item, to) {
  const [dl] = await Promise.all([page.waitForEvent('download'), item.locator('a.download').click()]);
  await dl.saveAs(to);
  return fs.readFileSync(to);
}

// The same bytes read back through the link's object URL: a corpus of 180
// files clicked in a row makes Chromium hold a download now and then.
async function offered(item) {
  const b64 = await item.locator('a.download').evaluate(async (a) => {
    const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  });
  return Buffer.from(b64, 'base64');
}

test('the page cleans examples/sample.jpg and shows what it revealed', async (t) => {
  const o = await openPage(t);
  if (!o) return;
  const dir = h.tmpdir('unmeta-wasm-page-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [item] = await feed(o.page, [h.sample]);
  assert.equal(await item.getAttribute('class'), 'file done');
  const text = await item.innerText();
  for (const want of ['Location', 'Device', 'Time', 'GPSPosition', 'Pixelphone', 'ThumbnailImage']) {
    assert.ok(text.includes(want), `the page shows ${want}: ${text}`);
  }
  assert.equal(await item.locator('.map svg circle.spot').count(), 2, 'the map marks the spot, world and close-up');
  assert.equal(await item.locator('.upload input[type=file]').evaluate((el) => el.files.length), 1, 'the upload form holds the clean file');
  await o.page.screenshot({ path: path.join(h.buildRoot, 'wasm-page.png'), fullPage: true });
  const c = h.cliStrip(h.sample, dir, 'cli');
  const got = await download(o.page, item, path.join(dir, 'page.jpg'));
  assert.ok(got.equals(c.out), 'the download is the CLI output');
  const foreign = o.srv.requests.filter((p) => !p.startsWith('/examples/web/') && !p.startsWith('/bindings/wasm/'));
  assert.deepEqual(foreign, [], 'the page loads only its own files');
  assert.deepEqual(o.errors, []);
});

test('in Chromium, the page strips ../shared/corpus to the CLI\'s bytes', async (t) => {
  const { root, files } = h.corpusFiles();
  if (!h.need(t, '../shared/corpus', files.length > 0)) return;
  const o = await openPage(t);
  if (!o) return;
  const dir = h.tmpdir('unmeta-wasm-browser-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let same = 0, refused = 0, ffmpeg = 0;
  const BATCH = 25;
  for (let b = 0; b < files.length; b += BATCH) {
    const batch = files.slice(b, b + BATCH);
    const items = await feed(o.page, batch);
    for (const [k, file] of batch.entries()) {
      const rel = path.relative(root, file);
      const item = items[k];
      const c = h.cliStrip(file, dir, `${b + k}.cli`);
      const cls = await item.getAttribute('class');
      if (c.ffmpeg) {
        assert.equal(cls, 'file failed', `${rel}: the CLI remuxes it with FFmpeg; the page cleaned it`);
        assert.match(await item.locator('.error').innerText(), /this build.*FeatureError/s, rel);
        ffmpeg++;
      } else if (c.ok) {
        assert.equal(cls, 'file done', `${rel}: the CLI cleans it; the page says ${await item.locator('.error').innerText()}`);
        const got = await offered(item);
        assert.ok(got.equals(c.out), `${rel}: the page's download differs from the CLI's output (${got.length} vs ${c.out.length} bytes)`);
        same++;
      } else {
        assert.equal(cls, 'file failed', `${rel}: the CLI refuses it (${c.stderr.trim()}); the page cleaned it`);
        assert.doesNotMatch(await item.locator('.error').innerText(), /FeatureError/, rel);
        refused++;
      }
    }
    // Keep the page light: the object URLs of this batch go.
    await o.page.evaluate(() => { for (const a of document.querySelectorAll('a.download')) URL.revokeObjectURL(a.href); document.querySelector('#results').textContent = ''; });
  }
  t.diagnostic(`${files.length} files in Chromium: ${same} byte-identical, ${refused} refused by both, ${ffmpeg} FFmpeg's (FeatureError)`);
  assert.equal(same + refused + ffmpeg, files.length);
  assert.ok(same >= 100, `${same} byte-identical`);
  assert.deepEqual(o.errors, []);
});

test('a long video is cleaned off the main thread, with progress, into the CLI\'s bytes', { timeout: 600000 }, async (t) => {
  if (!h.need(t, 'ffmpeg', h.have('ffmpeg'))) return;
  const o = await openPage(t);
  if (!o) return;
  const dir = h.tmpdir('unmeta-wasm-long-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { spawnSync } = require('node:child_process');
  const clip = path.join(dir, 'clip.mp4');
  const ff = (args) => assert.equal(spawnSync('ffmpeg', ['-v', 'error', '-y', ...args]).status, 0, args.join(' '));
  ff(['-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=25:d=2,noise=alls=60:allf=t', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '2', clip]);
  const loops = Math.ceil((160 << 20) / fs.statSync(clip).size) - 1;
  const big = path.join(dir, 'long.mp4');
  ff(['-stream_loop', String(loops), '-i', clip, '-c', 'copy', '-metadata', 'location=+48.8583+002.2945/',
    '-metadata', 'creation_time=2026-07-14T18:42:07Z', '-movflags', 'use_metadata_tags', big]);
  // The page's main thread answers while the Worker works, and the bar moves.
  await o.page.evaluate(() => {
    window.seen = [];
    new MutationObserver(() => {
      const bar = document.querySelector('#results > li progress');
      if (bar && !bar.hidden) window.seen.push(bar.value);
    }).observe(document.querySelector('#results'), { subtree: true, attributes: true, childList: true });
  });
  await o.page.setInputFiles('#files', [big]);
  let answers = 0;
  while (await o.page.locator('#results > li.done, #results > li.failed').count() === 0) {
    const t0 = Date.now();
    await o.page.evaluate(() => 1 + 1);
    if (Date.now() - t0 < 500) answers++;
    await new Promise((r) => setTimeout(r, 50));
  }
  const item = o.page.locator('#results > li').first();
  assert.equal(await item.getAttribute('class'), 'file done', await item.innerText());
  const seen = await o.page.evaluate(() => window.seen);
  assert.ok(seen.some((v) => v > 0 && v < 1), `the progress bar moved: ${seen.slice(0, 20)}`);
  assert.ok(answers >= 3, `the main thread answered ${answers} times while the file was cleaned`);
  assert.ok((await item.innerText()).includes('Location'), 'the video\'s location is shown');
  const sum = await item.locator('a.download').evaluate(async (a) => {
    const buf = await (await fetch(a.href)).arrayBuffer();
    return [...new Uint8Array(await crypto.subtle.digest('SHA-256', buf))].map((b) => b.toString(16).padStart(2, '0')).join('');
  });
  const cliOut = path.join(dir, 'cli.mp4');
  assert.equal(spawnSync(h.cli, ['strip', '-o', cliOut, big]).status, 0);
  const want = require('node:crypto').createHash('sha256').update(fs.readFileSync(cliOut)).digest('hex');
  assert.equal(sum, want, 'the same bytes as the CLI');
  t.diagnostic(`${(fs.statSync(big).size / (1 << 20)).toFixed(0)} MiB MP4 in Chromium: ${seen.length} progress updates, the page answered ${answers} times meanwhile`);
});
