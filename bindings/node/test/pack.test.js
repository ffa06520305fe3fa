'use strict';
// `npm pack` here, then `npm install <tarball> --offline` in an empty
// project: node-gyp builds the addon against the running Node's headers
// (never downloading any) and libunmeta found through pkg-config (this build
// tree's meson-uninstalled folder standing in for an installed unmeta.pc);
// a script in that project then cleans examples/sample.jpg.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const h = require('./helpers');

test('npm pack, npm install --offline in an empty project, strip a photo', async (t) => {
  if (!h.needTools(t, 'npm', 'pkg-config', 'c++')) return;
  const dir = h.tmpdir('unmeta-node-pack-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env };
  delete env.UNMETA_NODE_ADDON; // the installed package must use its own build
  env.PKG_CONFIG_PATH = [path.join(h.buildRoot, 'meson-uninstalled'), env.PKG_CONFIG_PATH].filter(Boolean).join(':');
  env.npm_config_cache = path.join(dir, 'npm-cache');
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  // node-gyp's header cache: it must stay empty (--nodedir, no download).
  env.npm_config_devdir = path.join(dir, 'gyp-devdir');
  const run = (cmd, args, cwd) => {
    const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };

  const packed = run('npm', ['pack', '--pack-destination', dir, h.here], dir).trim().split('\n').pop();
  const tarball = path.join(dir, packed);
  assert.ok(fs.existsSync(tarball), tarball);
  const project = path.join(dir, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', private: true }));
  run('npm', ['install', '--offline', '--foreground-scripts', tarball], project);
  const addon = path.join(project, 'node_modules', 'unmeta', 'build', 'Release', 'unmeta.node');
  assert.ok(fs.existsSync(addon), 'node-gyp built the addon');
  assert.ok(!fs.existsSync(env.npm_config_devdir) || fs.readdirSync(env.npm_config_devdir).length === 0,
    'node-gyp downloaded no headers');

  fs.writeFileSync(path.join(project, 'clean.js'), `
    const fs = require('node:fs');
    const unmeta = require('unmeta');
    (async () => {
      const input = fs.readFileSync(process.argv[2]);
      const out = await unmeta.strip(input);
      fs.writeFileSync(process.argv[3], out);
      console.log(JSON.stringify({ before: await unmeta.check(input), after: await unmeta.check(out) }));
    })().catch((e) => { console.error(e); process.exit(1); });`);
  const out = path.join(dir, 'clean.jpg');
  const res = JSON.parse(run(process.execPath, ['clean.js', h.sample, out], project));
  assert.deepEqual(res, { before: true, after: false });
  const cli = path.join(dir, 'cli.jpg');
  run(h.cli, ['strip', '-o', cli, h.sample], dir);
  assert.deepEqual(fs.readFileSync(out), fs.readFileSync(cli));
});
