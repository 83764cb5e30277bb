#!/usr/bin/env node
/**
 * What each durability syscall and a spawn cost on this machine (issue #15 item 1, docs/PERFORMANCE.md
 * "Fast command path"): 200 rounds of a 600-byte journal append + fdatasync, a new file written and
 * renamed without fsync, the same with a file fsync, a directory fsync; then the parent's CPU per
 * `spawn('sh', ['-c', 'echo ok'])` (process.cpuUsage around 100 spawns, detached like the agent's).
 * Run: node bench/path-syscalls.mjs (BENCH_TMP=<dir> to measure another file system).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const ROUNDS = 200;
const pct = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];
const dir = await mkdtemp(path.join(process.env.BENCH_TMP ?? os.tmpdir(), 'kanade-syscalls-'));
const times = {
  'journal append + fdatasync': [],
  'file write + rename, no fsync': [],
  'file write + fsync + rename': [],
  'directory fsync': [],
};
const journal = await open(path.join(dir, 'journal.log'), 'a', 0o600);
const load0 = os.loadavg()[0];
try {
  for (let i = 0; i < ROUNDS; i += 1) {
    let t0 = performance.now();
    await journal.write(`${'x'.repeat(600)}\n`);
    await journal.datasync();
    times['journal append + fdatasync'].push(performance.now() - t0);
    for (const [name, sync] of [
      ['file write + rename, no fsync', false],
      ['file write + fsync + rename', true],
    ]) {
      t0 = performance.now();
      const tmp = path.join(dir, `${i}-${sync}.json.tmp`);
      const file = await open(tmp, 'w', 0o600);
      await file.writeFile('y'.repeat(600));
      if (sync) await file.sync();
      await file.close();
      await rename(tmp, path.join(dir, `${i}-${sync}.json`));
      times[name].push(performance.now() - t0);
    }
    t0 = performance.now();
    const d = await open(dir, 'r');
    await d.sync();
    await d.close();
    times['directory fsync'].push(performance.now() - t0);
  }
} finally {
  await journal.close();
  await rm(dir, { recursive: true, force: true });
}
const spawnOnce = () =>
  new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'echo ok'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', resolve);
  });
for (let i = 0; i < 10; i += 1) await spawnOnce();
const cpu0 = process.cpuUsage();
for (let i = 0; i < 100; i += 1) await spawnOnce();
const cpu = process.cpuUsage(cpu0);
console.log(`${ROUNDS} rounds under ${path.dirname(dir)}, load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
for (const [name, values] of Object.entries(times))
  console.log(`${name.padEnd(32)} p50 ${pct(values, 50).toFixed(2)} ms  p99 ${pct(values, 99).toFixed(2)} ms`);
console.log(
  `spawn, parent CPU per call (RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB): user ${(cpu.user / 100_000).toFixed(2)} ms, system ${(cpu.system / 100_000).toFixed(2)} ms`,
);
