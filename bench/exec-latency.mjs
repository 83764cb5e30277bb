#!/usr/bin/env node
/**
 * Bench for issue 5 (docs/PERFORMANCE.md, "Executor latency"): publish → ExecResult stored in
 * RESULTS for `echo ok`, p50/p99 over N sequential commands sent to the real agent process
 * (`kanade-agent run`: admission ledger fsyncs, gates with live KV reads, spawn, results outbox,
 * JetStream PubAck), against a bare `sh -c 'echo ok'` spawn measured in the same run.
 * Needs `npx tsc -p tsconfig.json` first (it imports dist/). Run: node bench/exec-latency.mjs
 * (COMMANDS=200 WARMUP=20 by default; BENCH_TMP=/dev/shm to take fsync out of the picture).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../dist/devtools/dev-broker/nats-server.js';
import { bootstrapBackendResources } from '../dist/devtools/dev-broker/bootstrap.js';
import { commandBytes, draftCommand } from '../dist/actors/command-publisher.js';

const COMMANDS = Number(process.env.COMMANDS ?? 200);
const WARMUP = Number(process.env.WARMUP ?? 20);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const fmt = (ms) => `${ms.toFixed(2)} ms`;

const bareSpawn = () => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const child = spawn('sh', ['-c', 'echo ok'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.resume();
  child.stderr.resume();
  child.on('error', reject);
  child.on('close', () => resolve(performance.now() - t0));
});

const server = await startNatsServer();
const nc = await connect({ servers: server.url });
await bootstrapBackendResources(nc);
// BENCH_TMP=/dev/shm puts the data dir (ledger, outbox) on tmpfs, where fsync costs nothing: the
// difference to the default run is the price of durability.
const dir = await mkdtemp(path.join(process.env.BENCH_TMP ?? os.tmpdir(), 'kanade-bench-exec-'));
const pcId = 'BENCH-EXEC';
const configPath = path.join(dir, 'agent.toml');
await writeFile(configPath, [
  '[agent]', `id = "${pcId}"`, `nats_url = "${server.url}"`, `data_dir = ${JSON.stringify(path.join(dir, 'data'))}`,
  '[log]', 'level = "warn"', 'keep_days = 0',
  '[security]', `command_keys_file = ${JSON.stringify(path.join(dir, 'none.json'))}`,
  '[control]', `socket = ${JSON.stringify(path.join(dir, 'agent.sock'))}`, '',
].join('\n'));
// AGENT_BIN=<path> measures another build (e.g. a copy of main's dist/) with this same harness.
const agent = spawn(process.execPath, [process.env.AGENT_BIN ?? path.join(ROOT, 'dist/bin/kanade-agent.js'), 'run', '--config', configPath], {
  stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, KANADE_AGENT_DATA_DIR: '' },
});

const waiting = new Map();
const sub = nc.subscribe('results.>', {
  callback: (_err, msg) => {
    const done = waiting.get(msg.subject.slice('results.'.length));
    if (done) done(performance.now());
  },
});
const roundTrip = async (timeoutMs = 10_000) => {
  const cmd = draftCommand({ shell: 'sh', script: 'echo ok' });
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no result for ${cmd.request_id} in ${timeoutMs} ms`)), timeoutMs);
    waiting.set(cmd.request_id, (t) => { clearTimeout(timer); resolve(t); });
  });
  const t0 = performance.now();
  nc.publish(`commands.pc.${pcId}`, commandBytes(cmd));
  const t1 = await got;
  waiting.delete(cmd.request_id);
  return t1 - t0;
};

try {
  // Wait until the agent's intake answers.
  for (let attempt = 0; ; attempt += 1) {
    try {
      await roundTrip(2_000);
      break;
    } catch (err) {
      if (attempt > 30) throw err;
    }
  }
  for (let i = 0; i < WARMUP; i += 1) await roundTrip();
  const agentMs = [];
  for (let i = 0; i < COMMANDS; i += 1) agentMs.push(await roundTrip());
  const bareMs = [];
  for (let i = 0; i < WARMUP; i += 1) await bareSpawn();
  for (let i = 0; i < COMMANDS; i += 1) bareMs.push(await bareSpawn());
  const rows = [
    ['agent: publish → result in RESULTS', pct(agentMs, 50), pct(agentMs, 99)],
    ["bare spawn sh -c 'echo ok'", pct(bareMs, 50), pct(bareMs, 99)],
  ];
  console.log(`commands: ${COMMANDS} sequential (after ${WARMUP} warm-up), data dir under ${path.dirname(dir)}, node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`);
  for (const [name, p50, p99] of rows) console.log(`${name.padEnd(40)} p50 ${fmt(p50)}  p99 ${fmt(p99)}`);
  console.log(`p50 overhead: ${fmt(pct(agentMs, 50) - pct(bareMs, 50))} (goal ≤ 10 ms)`);
} finally {
  sub.unsubscribe();
  agent.kill('SIGTERM');
  await new Promise((resolve) => agent.once('exit', resolve));
  await nc.close();
  await server.cleanup();
  await rm(dir, { recursive: true, force: true });
}
