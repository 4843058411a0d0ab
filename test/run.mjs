#!/usr/bin/env node
// Runs every test/*.test.ts with node:test through tsx (Node 20's runner does not expand globs),
// fails when no test ran, so an empty run can never look green, and prints how long the suite took
// (it must stay under 4 minutes).
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';

const only = process.argv.slice(2);
const files = only.length > 0 ? only : readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort().map((f) => `test/${f}`);
if (files.length === 0) {
  console.error('no test files found in test/');
  process.exit(1);
}
const started = performance.now();
// Two files at a time (TEST_CONCURRENCY): most of the suite waits on eMAG's real rate limits, not on
// the CPU, and the budget's slack holds its windows with two files sharing the machine's two cores.
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...files], {
  stdio: ['inherit', 'pipe', 'inherit'],
});
let output = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  output += chunk.toString();
});
child.on('close', (code) => {
  const seconds = Math.round((performance.now() - started) / 1000);
  console.log(`test suite: ${files.length} file(s) in ${Math.floor(seconds / 60)} min ${seconds % 60} s`);
  // node:test reports a file that declared no test as one passing "test" named after the file.
  const lines = new Set(output.split('\n').map((l) => l.replace(/ \([\d.]+ms\)$/, '')));
  const empty = files.filter((f) => lines.has(`✔ ${resolve(f)}`));
  const passed = Number(/ℹ pass (\d+)/.exec(output.slice(-4000))?.[1] ?? 0);
  if (empty.length > 0) {
    console.error(`no test ran in ${empty.join(', ')}`);
    process.exit(1);
  }
  if (code === 0 && passed === 0) {
    console.error('the test run executed no test');
    process.exit(1);
  }
  process.exit(code ?? 1);
});
