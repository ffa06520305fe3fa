'use strict';
// Shared by the tests: where things are, and tools the tests need. A missing
// tool skips the test, except under UNMETA_REQUIRE_TOOLS=1 (.ci/run), where
// it fails: on a machine scripts/bootstrap set up, a skip is a missing install.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const here = path.join(__dirname, '..');
const sourceRoot = process.env.UNMETA_SOURCE_ROOT || path.join(here, '..', '..');
const shared = process.env.UNMETA_SHARED || path.join(sourceRoot, '..', 'shared');
const cli = process.env.UNMETA || path.join(sourceRoot, 'build', 'unmeta');
const buildRoot = process.env.UNMETA_BUILD_ROOT || path.join(sourceRoot, 'build');
const sample = path.join(sourceRoot, 'examples', 'sample.jpg');

function have(tool) {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]);
  return r.status === 0;
}

// Returns false (and skips t) when something is missing; throws under
// UNMETA_REQUIRE_TOOLS=1.
function need(t, what, ok) {
  if (ok) return true;
  if (process.env.UNMETA_REQUIRE_TOOLS === '1') {
    throw new Error(`${what} is missing (UNMETA_REQUIRE_TOOLS=1: scripts/bootstrap should install it)`);
  }
  t.skip(`${what} is missing`);
  return false;
}

function needTools(t, ...tools) {
  for (const tool of tools) if (!need(t, tool, have(tool))) return false;
  return true;
}

// exiftool's tags as {group:tag: value}; the judge no part of unmeta wrote.
function exiftool(file) {
  const r = spawnSync('exiftool', ['-j', '-a', '-G1', '-s', '-api', 'LargeFileSupport=1', file], { encoding: 'utf8' });
  if (r.status !== 0 && !r.stdout) throw new Error('exiftool failed: ' + r.stderr);
  return JSON.parse(r.stdout)[0];
}

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(require('node:os').tmpdir(), prefix));
}

module.exports = { here, sourceRoot, shared, cli, buildRoot, sample, have, need, needTools, exiftool, tmpdir };
