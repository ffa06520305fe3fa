'use strict';
// For bench/run --only wasm: strips each FILE into OUTDIR/<its name> with the
// wasm package (bindings/wasm, stripFile: fs.readSync in, fs.writeSync out),
// one process for the batch, as `unmeta strip -d OUTDIR FILE...` does.
//   UNMETA_WASM_DIST=build/bindings/wasm node bench/wasm-strip.js OUTDIR FILE...
const path = require('node:path');
const unmeta = require(path.join(__dirname, '..', 'bindings', 'wasm'));

// With no FILE it only starts: node, the package and the module (ready()).
(async () => {
  const [out, ...files] = process.argv.slice(2);
  await unmeta.ready();
  for (const f of files) await unmeta.stripFile(f, path.join(out, path.basename(f)));
})().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
