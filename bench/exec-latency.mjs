#!/usr/bin/env node
/**
 * Bench for issue 5 / issue 15 item 1 (docs/PERFORMANCE.md, "Executor latency"): publish →
 * ExecResult stored in RESULTS for `echo ok`, p50/p99 over N sequential commands sent to the real
 * agent process (`kanade-agent run`: admission journal, gates with live KV reads, spawn, results
 * outbox, JetStream PubAck), against a bare `sh -c 'echo ok'` spawn measured in the same run.
 * Needs `npx tsc -p tsconfig.json` first (it imports dist/). Run: node bench/exec-latency.mjs
 *
 * COMMANDS=200 WARMUP=20 by default; BENCH_TMP=/dev/shm takes fsync out of the picture.
 * AGENT_BIN=<path> measures another build; BASE_BIN=<path> (e.g. a copy of main's dist/ inside this
 * checkout, so node_modules resolve) runs a second agent side by side: the rounds alternate
 * agent → base → bare spawn, so all three see the same machine load.
 * PHASES=1 runs the agents at log level debug and prints, per agent, the p50 of each step between
 * consecutive log lines of a command (ms resolution, the agent's own clock), plus publish → first
 * line and last line → result in RESULTS. Debug logging costs time itself: take latency from a run
 * without PHASES. "agent CPU" is the agent process's own utime + stime per command (children not
 * included; 10 ms clock ticks, averaged): the part of the overhead that load cannot inflate.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../dist/devtools/dev-broker/nats-server.js';
import { bootstrapBackendResources } from '../dist/devtools/dev-broker/bootstrap.js';
import { commandBytes, draftCommand } from '../dist/actors/command-publisher.js';

const COMMANDS = Number(process.env.COMMANDS ?? 200);
const WARMUP = Number(process.env.WARMUP ?? 20);
const PHASES = process.env.PHASES === '1';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const fmt = (ms) => `${ms.toFixed(2)} ms`;

const bareSpawn = () =>
  new Promise((resolve, reject) => {
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

/** Log lines per request_id, for PHASES. */
const startAgent = async (label, bin) => {
  const pcId = `BENCH-EXEC-${label}`;
  const configPath = path.join(dir, `${label}.toml`);
  await writeFile(
    configPath,
    [
      '[agent]',
      `id = "${pcId}"`,
      `nats_url = "${server.url}"`,
      `data_dir = ${JSON.stringify(path.join(dir, `data-${label}`))}`,
      '[log]',
      `level = "${PHASES ? 'debug' : 'warn'}"`,
      'keep_days = 0',
      '[security]',
      `command_keys_file = ${JSON.stringify(path.join(dir, 'none.json'))}`,
      '[control]',
      `socket = ${JSON.stringify(path.join(dir, `${label}.sock`))}`,
      '',
    ].join('\n'),
  );
  // AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": node flags for the agents (a profile).
  const nodeArgs = (process.env.AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, bin, 'run', '--config', configPath], {
    stdio: ['ignore', PHASES ? 'pipe' : 'ignore', 'inherit'],
    env: { ...process.env, KANADE_AGENT_DATA_DIR: '' },
  });
  const lines = new Map();
  if (PHASES) {
    readline.createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        // The replay consumer's second copy of each command is decided as a duplicate alongside.
        if (typeof entry.request_id !== 'string' || entry.msg.startsWith('duplicate command')) return;
        const list = lines.get(entry.request_id) ?? [];
        list.push({ msg: entry.msg, at: Date.parse(entry.time) });
        lines.set(entry.request_id, list);
      } catch {
        // not a JSON line
      }
    });
  }
  return { label, pcId, proc, lines, ms: [], marks: new Map() };
};

const agents = [await startAgent('agent', process.env.AGENT_BIN ?? path.join(ROOT, 'dist/bin/kanade-agent.js'))];
if (process.env.BASE_BIN !== undefined) agents.push(await startAgent('base', process.env.BASE_BIN));

const waiting = new Map();
const sub = nc.subscribe('results.>', {
  callback: (_err, msg) => {
    const done = waiting.get(msg.subject.slice('results.'.length));
    if (done) done(performance.now());
  },
});
const roundTrip = async (agent, timeoutMs = 10_000) => {
  const cmd = draftCommand({ shell: 'sh', script: 'echo ok' });
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no result for ${cmd.request_id} in ${timeoutMs} ms`)), timeoutMs);
    waiting.set(cmd.request_id, (t) => {
      clearTimeout(timer);
      resolve(t);
    });
  });
  const wall0 = Date.now();
  const t0 = performance.now();
  nc.publish(`commands.pc.${agent.pcId}`, commandBytes(cmd));
  const t1 = await got;
  waiting.delete(cmd.request_id);
  return { ms: t1 - t0, requestId: cmd.request_id, wall0, wall1: Date.now() };
};

/** utime + stime of a process in ms (its own threads, not its children), from /proc/<pid>/stat. */
const cpuMs = async (pid) => {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  if (process.env.CPU_SPLIT === '1') console.log(`pid ${pid}: utime ${fields[11]} stime ${fields[12]} ticks`);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};

/** p50 of each step between consecutive distinct log lines, in the order they usually come. */
const phaseTable = (agent) => {
  const steps = new Map();
  for (const [requestId, mark] of agent.marks) {
    const list = [
      { msg: 'published', at: mark.wall0 },
      ...(agent.lines.get(requestId) ?? []).filter((l, i, all) => all.findIndex((o) => o.msg === l.msg) === i).sort((a, b) => a.at - b.at),
      { msg: 'in RESULTS', at: mark.wall1 },
    ];
    for (let i = 1; i < list.length; i += 1) {
      const key = `${list[i - 1].msg} → ${list[i].msg}`;
      const entry = steps.get(key) ?? { values: [], order: 0 };
      entry.values.push(list[i].at - list[i - 1].at);
      entry.order += i;
      steps.set(key, entry);
    }
  }
  return [...steps.entries()]
    .filter(([, e]) => e.values.length >= agent.marks.size / 4)
    .sort((a, b) => a[1].order / a[1].values.length - b[1].order / b[1].values.length)
    .map(([key, e]) => `  ${key.padEnd(64)} p50 ${pct(e.values, 50)} ms  (n=${e.values.length})`);
};

try {
  for (const agent of agents) {
    // Wait until the agent's intake answers.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await roundTrip(agent, 2_000);
        break;
      } catch (err) {
        if (attempt > 30) throw err;
      }
    }
    for (let i = 0; i < WARMUP; i += 1) await roundTrip(agent);
  }
  for (let i = 0; i < WARMUP; i += 1) await bareSpawn();
  const bareMs = [];
  const loads = [os.loadavg()[0]];
  for (const agent of agents) agent.cpu0 = await cpuMs(agent.proc.pid);
  for (let i = 0; i < COMMANDS; i += 1) {
    for (const agent of agents) {
      const r = await roundTrip(agent);
      agent.ms.push(r.ms);
      agent.marks.set(r.requestId, r);
    }
    bareMs.push(await bareSpawn());
    if (i % 50 === 49) loads.push(os.loadavg()[0]);
  }
  for (const agent of agents) agent.cpuPerCommand = ((await cpuMs(agent.proc.pid)) - agent.cpu0) / COMMANDS;
  const bare50 = pct(bareMs, 50);
  console.log(
    `commands: ${COMMANDS} sequential per agent, rounds interleaved (after ${WARMUP} warm-up), data dir under ${path.dirname(dir)}, node ${process.version}, ${os.cpus().length} CPUs, load ${loads.map((l) => l.toFixed(1)).join(' → ')}`,
  );
  for (const agent of agents) {
    console.log(
      `${`${agent.label}: publish → result in RESULTS`.padEnd(40)} p50 ${fmt(pct(agent.ms, 50))}  p99 ${fmt(pct(agent.ms, 99))}  overhead p50 ${fmt(pct(agent.ms, 50) - bare50)}  p99 ${fmt(pct(agent.ms, 99) - bare50)}  agent CPU ${agent.cpuPerCommand.toFixed(2)} ms/command`,
    );
  }
  console.log(`${"bare spawn sh -c 'echo ok'".padEnd(40)} p50 ${fmt(bare50)}  p99 ${fmt(pct(bareMs, 99))}`);
  if (agents.length === 2)
    console.log(
      `agent / base p50 ratio: ${(pct(agents[0].ms, 50) / pct(agents[1].ms, 50)).toFixed(2)}; overhead ratio ${((pct(agents[0].ms, 50) - bare50) / (pct(agents[1].ms, 50) - bare50)).toFixed(2)}`,
    );
  if (PHASES) {
    for (const agent of agents) console.log(`phases (${agent.label}, p50, ms resolution):\n${phaseTable(agent).join('\n')}`);
  }
} finally {
  sub.unsubscribe();
  for (const agent of agents) agent.proc.kill('SIGTERM');
  await Promise.all(
    agents.map(
      (agent) =>
        new Promise((resolve) => {
          if (agent.proc.exitCode !== null) resolve();
          else agent.proc.once('exit', resolve);
        }),
    ),
  );
  await nc.close();
  await server.cleanup();
  await rm(dir, { recursive: true, force: true });
}
