// The page: each file dropped or picked is inspected (what it reveals, by
// the categories of `unmeta inspect`), then stripped; the clean copy is
// offered for download, or for upload through a plain form to a server the
// user names. All of it runs in the Worker of bindings/wasm/lib/browser.js.
'use strict';

const CATEGORIES = [
  ['location', 'Location'],
  ['device', 'Device'],
  ['time', 'Time'],
  ['people', 'People'],
  ['software', 'Software'],
  ['embedded', 'Embedded previews and media'],
  ['other', 'Other'],
];
const $ = (sel, el = document) => el.querySelector(sel);
const status = $('#status');

function options() {
  return {
    icc: $('#icc-strip').checked ? 'strip' : 'keep',
    applyOrientation: $('#apply-orientation').checked,
    keepMotion: $('#keep-motion').checked,
  };
}

function size(n) {
  if (n < 1024) return n + ' bytes';
  if (n < 1 << 20) return (n / 1024).toFixed(1) + ' KiB';
  if (n < 1 << 30) return (n / (1 << 20)).toFixed(1) + ' MiB';
  return (n / (1 << 30)).toFixed(2) + ' GiB';
}

// "48.858222, 2.294500" (and the ISO 6709 "+48.8582+002.2945/" of videos) -> [lat, lon].
function position(findings) {
  for (const f of findings) {
    if (f.category !== 'location') continue;
    let m = /^(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?)/.exec(f.value);
    if (!m) m = /^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)/.exec(f.value);
    if (m) {
      const lat = Number(m[1]), lon = Number(m[2]);
      if (Math.abs(lat) <= 90 && Math.abs(lon) <= 180) return [lat, lon];
    }
  }
  return null;
}

const SVG = 'http://www.w3.org/2000/svg';
function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

// A small map drawn here, from nothing but the coordinates: the world on a
// 30-degree grid with the spot, and beside it the spot's surroundings on a
// grid of tenths of a degree (about 11 km). No tiles, nothing fetched.
function drawMap(figure, lat, lon) {
  const svg = svgEl('svg', { viewBox: '0 0 380 180', width: 380, height: 180, role: 'img',
    'aria-label': `A map with a mark at latitude ${lat.toFixed(4)}, longitude ${lon.toFixed(4)}` });
  const world = svgEl('g', {}, svg);
  svgEl('rect', { x: 0, y: 0, width: 360, height: 180, class: 'sea' }, world);
  for (let x = -180; x <= 180; x += 30) svgEl('line', { x1: x + 180, y1: 0, x2: x + 180, y2: 180, class: x === 0 ? 'axis' : 'grid' }, world);
  for (let y = -90; y <= 90; y += 30) svgEl('line', { x1: 0, y1: 90 - y, x2: 360, y2: 90 - y, class: y === 0 ? 'axis' : 'grid' }, world);
  svgEl('circle', { cx: lon + 180, cy: 90 - lat, r: 4, class: 'spot' }, world);
  world.setAttribute('transform', 'scale(0.5)');
  // The close-up: +/- 0.5 degree around the spot.
  const near = svgEl('g', { transform: 'translate(200,0)' }, svg);
  svgEl('rect', { x: 0, y: 0, width: 180, height: 180, class: 'land' }, near);
  const lat0 = Math.floor(lat * 10) / 10 - 0.4, lon0 = Math.floor(lon * 10) / 10 - 0.4;
  const px = (v, v0) => ((v - v0) / 1.0) * 180;
  for (let i = 0; i <= 10; i++) {
    const x = px(lon0 + i / 10, lon0), y = 180 - px(lat0 + i / 10, lat0);
    svgEl('line', { x1: x, y1: 0, x2: x, y2: 180, class: 'grid' }, near);
    svgEl('line', { x1: 0, y1: y, x2: 180, y2: y, class: 'grid' }, near);
  }
  svgEl('circle', { cx: px(lon, lon0), cy: 180 - px(lat, lat0), r: 6, class: 'spot' }, near);
  const label = svgEl('text', { x: 4, y: 176, class: 'label' }, near);
  label.textContent = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
  figure.appendChild(svg);
  figure.hidden = false;
}

function showFindings(li, report) {
  const dl = $('.findings', li);
  dl.textContent = '';
  for (const [cat, title] of CATEGORIES) {
    const fs = report.findings.filter((f) => f.category === cat);
    if (fs.length === 0) continue;
    const dt = document.createElement('dt');
    dt.textContent = title;
    dt.className = 'cat-' + cat;
    dl.appendChild(dt);
    for (const f of fs) {
      const dd = document.createElement('dd');
      const name = document.createElement('span');
      name.className = 'fname';
      name.textContent = f.name;
      dd.append(name, ' ', f.value);
      dl.appendChild(dd);
    }
  }
  const pos = position(report.findings);
  if (pos) drawMap($('.map', li), pos[0], pos[1]);
}

function cleanName(name) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) + '.clean' + name.slice(dot) : name + '.clean';
}

async function handle(file) {
  const li = $('#file-tpl').content.firstElementChild.cloneNode(true);
  $('#results').appendChild(li);
  $('.name', li).textContent = file.name;
  $('.summary', li).textContent = `${size(file.size)}: reading…`;
  const bar = $('progress', li);
  const onProgress = (done, total) => {
    if (total > 0) { bar.hidden = false; bar.value = done / total; }
  };
  try {
    const opts = options();
    const report = await unmeta.inspect(file, { ...opts, onProgress });
    showFindings(li, report);
    const n = report.findings.length;
    $('.summary', li).textContent = `${size(file.size)}, ${report.format}: ` +
      (report.dirty ? `reveals ${n} thing${n === 1 ? '' : 's'} about you. Cleaning…` : 'reveals nothing. Cleaning anyway…');
    const { data } = await unmeta.stripWithReport(file, { ...opts, onProgress });
    bar.value = 1;
    const clean = new File([data], cleanName(file.name), { type: file.type });
    const a = $('.download', li);
    a.href = URL.createObjectURL(clean);
    a.download = clean.name;
    a.textContent = `Download ${clean.name} (${size(clean.size)})`;
    $('.actions', li).hidden = false;
    const form = $('.upload', li);
    const dt = new DataTransfer();
    dt.items.add(clean);
    form.elements.file.files = dt.files;
    form.addEventListener('submit', (e) => { form.action = form.querySelector('.target').value; if (!form.action) e.preventDefault(); });
    form.hidden = false;
    $('.summary', li).textContent = `${size(file.size)}, ${report.format}: ` +
      (report.dirty ? `revealed ${n} thing${n === 1 ? '' : 's'}; the clean copy says nothing.` : 'nothing to remove.');
    li.classList.add('done');
  } catch (e) {
    const err = $('.error', li);
    err.textContent = `Not cleaned: ${e.message}` + (e.name ? ` (${e.name})` : '');
    err.hidden = false;
    bar.hidden = true;
    li.classList.add('failed');
  }
}

// One file at a time: the Worker runs them in order anyway.
let queue = Promise.resolve();
function add(files) {
  for (const f of files) queue = queue.then(() => handle(f));
  queue = queue.then(() => { status.textContent = 'Done. Nothing left this device.'; });
}

const input = $('#files');
input.addEventListener('change', () => { add([...input.files]); input.value = ''; });
const drop = $('#drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); add([...e.dataTransfer.files]); });

unmeta.ready().then(() => {
  status.textContent = `Ready: unmeta ${unmeta.libraryVersion()}, formats ${unmeta.formats().filter((f) => f !== 'media').join(', ')}.`;
  document.body.dataset.ready = '1';
}, (e) => { status.textContent = 'unmeta could not start: ' + e.message; });
