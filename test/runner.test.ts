import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const ROOT = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'emag-sync-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `npm test` on the given test files. */
function runTests(files: Record<string, string>) {
  const paths = Object.entries(files).map(([name, text]) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  });
  return spawnSync(process.execPath, ['test/run.mjs', ...paths], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
}

test('npm test prints how long the suite took', () => {
  const r = runTests({ 'one.test.ts': "import { test } from 'node:test';\ntest('passes', () => {});\n" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /✔ passes/);
  assert.match(r.stdout, /^test suite: 1 file\(s\) in \d+ min \d+ s$/m);
});

test('a run that executed no test fails, even though nothing failed', () => {
  // node:test counts a file without tests as one passed test: the runner must see through that.
  const r = runTests({ 'empty.test.ts': 'export {};\n' });
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /no test ran in .*empty\.test\.ts/);
  assert.match(r.stdout, /^test suite: 1 file\(s\) in/m);
});

test('a file without tests fails the run even when other files pass', () => {
  const r = runTests({ 'a-empty.test.ts': 'export {};\n', 'b-one.test.ts': "import { test } from 'node:test';\ntest('passes', () => {});\n" });
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /no test ran in .*a-empty\.test\.ts$/m);
  assert.doesNotMatch(r.stderr, /b-one/);
});

test('a failing test fails the run', () => {
  const r = runTests({ 'fails.test.ts': "import assert from 'node:assert';\nimport { test } from 'node:test';\ntest('fails', () => assert.fail('on purpose'));\n" });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /✖ fails/);
});
