'use strict';
// bench/wasm-browser.js - the memory of a browser cleaning one large file:
// Debian's headless Chromium (driven by playwright-core, bindings/wasm's
// devDependency) loads examples/web from a local server and is given FILE
// through the page's file input; every 100 ms until the page shows its
// answer, the RSS of each Chromium process is read from /proc. Prints the
// time, and each kind of process's RSS before and at its peak: the
// renderer holds the page, its Worker and the wasm module; the browser
// process holds the Blob store, where the clean copy lives.
//   node bench/wasm-browser.js FILE        (after ninja -C build; bench/README.md)
// Env: UNMETA_BUILD_ROOT (default build), UNMETA_CHROMIUM (/usr/bin/chromium).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
process.env.UNMETA_SOURCE_ROOT = root;
process.env.UNMETA_WASM_DIST = path.join(process.env.UNMETA_BUILD_ROOT || path.join(root, 'build'), 'bindings', 'wasm');
const h = require(path.join(root, 'bindings', 'wasm', 'test', 'helpers')); // serve(): the page, as the browser test serves it
const chromium = process.env.UNMETA_CHROMIUM || '/usr/bin/chromium';

function below(pid) { // the processes under pid
  const all = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      all.push([Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1])]);
    } catch { /* gone */ }
  }
  const seen = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, pp] of all) if (!seen.has(p) && seen.has(pp)) { seen.add(p); grew = true; }
  }
  seen.delete(pid);
  return [...seen];
}

// RSS in MiB per kind of Chromium process (--type=renderer, ...), the largest of each kind.
function sample() {
  const per = {};
  for (const p of below(process.pid)) {
    try {
      const kib = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))[1]);
      const type = (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').match(/--type=([a-z-]+)/) || [null, 'browser'])[1];
      per[type] = Math.max(per[type] || 0, kib / 1024);
    } catch { /* gone */ }
  }
  return per;
}

(async () => {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node bench/wasm-browser.js FILE');
  const pw = require(path.join(root, 'bindings', 'wasm', 'node_modules', 'playwright-core'));
  const { server, port } = await h.serve();
  const browser = await pw.chromium.launch({ executablePath: chromium, args: ['--no-sandbox'] });
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${port}/examples/web/`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
    const before = sample();
    const peak = { ...before };
    const t0 = Date.now();
    await page.setInputFiles('#files', [file]);
    while (await page.locator('#results > li.done, #results > li.failed').count() === 0) {
      const now = sample();
      for (const k in now) peak[k] = Math.max(peak[k] || 0, now[k]);
      await new Promise((r) => setTimeout(r, 100));
    }
    const secs = (Date.now() - t0) / 1000;
    const item = page.locator('#results > li').first();
    if (await item.getAttribute('class') !== 'file done') throw new Error(await item.innerText());
    const mib = fs.statSync(file).size / 1048576;
    console.log(`${path.basename(file)}: ${mib.toFixed(0)} MiB cleaned in the page in ${secs.toFixed(1)} s (${(mib / secs).toFixed(0)} MiB/s)`);
    for (const k of Object.keys(peak).sort())
      console.log(`  ${k.padEnd(12)} RSS ${(before[k] || 0).toFixed(0).padStart(6)} MiB before, ${peak[k].toFixed(0).padStart(6)} MiB at the peak (+${(peak[k] - (before[k] || 0)).toFixed(0)})`);
  } finally {
    await browser.close();
    server.close();
  }
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
