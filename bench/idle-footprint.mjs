#!/usr/bin/env node
/**
 * Bench for issue 4 (docs/PERFORMANCE.md, "Idle footprint"): the agent's RSS and CPU while idle
 * and connected, side by side with a bare Node process that holds one NATS connection, both
 * against the same local nats-server in one run; and process start → connected time of each.
 *
 * Needs `npx tsc -p tsconfig.json` first (it runs dist/). Linux only (reads /proc).
 * The measuring window starts WARMUP_S (35 s) after connecting, because the inventory child
 * collects once within 30 s of the first connect (a one-off, reported separately).
 * Run: node bench/idle-footprint.mjs            (WARMUP_S=35, WINDOW_S=60 by default; ≈ 100 s)
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { bootstrapBackendResources } from '../dist/devtools/dev-broker/bootstrap.js';
import { startNatsServer } from '../dist/devtools/dev-broker/nats-server.js';

const WINDOW_S = Number(process.env.WINDOW_S ?? 60);
const WARMUP_S = Number(process.env.WARMUP_S ?? 35);
const AGENT_BIN = fileURLToPath(new URL('../dist/bin/kanade-agent.js', import.meta.url));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of a process in seconds (/proc/<pid>/stat fields 14 and 15). */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
/** Resident set size in MiB. */
function rssMiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readSocket(path) {
  return new Promise((resolve) => {
    const c = net.connect(path);
    let body = '';
    c.on('data', (d) => (body += d));
    c.on('end', () => { try { resolve(JSON.parse(body)); } catch { resolve(null); } });
    c.on('error', () => resolve(null));
  });
}

const server = await startNatsServer();
const boot = await connect({ servers: server.url });
await bootstrapBackendResources(boot);
await boot.close();
const dir = await mkdtemp(join(tmpdir(), 'kanade-bench-idle-'));
const socket = join(dir, 'data', 'agent.sock');
const configPath = join(dir, 'agent.toml');
await writeFile(configPath, [
  '[agent]', 'id = "bench-idle"', `nats_url = "${server.url}"`, `data_dir = "${join(dir, 'data')}"`,
  '[log]', 'level = "warn"', `path = "${join(dir, 'agent.log')}"`,
  '[control]', `socket = "${socket}"`, '',
].join('\n'));

// The baseline: the same nats.js, one connection, nothing else.
const baselineSrc = `
  import { connect } from '@nats-io/transport-node';
  const nc = await connect({ servers: ${JSON.stringify(server.url)}, name: 'bench-baseline' });
  console.log('connected');
  setInterval(() => {}, 1 << 30);
`;
const env = { ...process.env, KANADE_AGENT_DATA_DIR: '' };
const t0Agent = performance.now();
const agent = spawn(process.execPath, [AGENT_BIN, 'run', '--config', configPath], { env, stdio: 'ignore' });
const t0Base = performance.now();
const baseline = spawn(process.execPath, ['--input-type=module', '-e', baselineSrc], { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('..', import.meta.url)) });
const baseConnected = new Promise((resolve) => baseline.stdout.once('data', () => resolve(performance.now() - t0Base)));

let agentConnectedMs = null;
for (let i = 0; i < 600 && agentConnectedMs === null; i++) {
  const report = await readSocket(socket);
  if (report?.connection?.connected) agentConnectedMs = performance.now() - t0Agent;
  else await sleep(20);
}
const baseConnectedMs = await baseConnected;
if (agentConnectedMs === null) throw new Error('agent never connected');

const cpuStart = { agent: cpuSeconds(agent.pid), base: cpuSeconds(baseline.pid) };
await sleep(WARMUP_S * 1000);
const cpu0 = { agent: cpuSeconds(agent.pid), base: cpuSeconds(baseline.pid) };
await sleep((WINDOW_S / 2) * 1000);
const cpuMid = { agent: cpuSeconds(agent.pid), base: cpuSeconds(baseline.pid) };
await sleep((WINDOW_S / 2) * 1000);
const cpu1 = { agent: cpuSeconds(agent.pid), base: cpuSeconds(baseline.pid) };
const rss = { agent: rssMiB(agent.pid), base: rssMiB(baseline.pid) };
const report = await readSocket(socket);

const pct = (a, b, s) => ((b - a) / s) * 100;
const rows = [
  ['', 'agent', 'bare nats.js', 'ratio'],
  ['start → connected (ms)', agentConnectedMs.toFixed(0), baseConnectedMs.toFixed(0), (agentConnectedMs / baseConnectedMs).toFixed(2)],
  [`CPU s in the ${WARMUP_S} s after connecting (incl. boot inventory)`, (cpu0.agent - cpuStart.agent).toFixed(2), (cpu0.base - cpuStart.base).toFixed(2), ''],
  [`RSS after ${WARMUP_S + WINDOW_S} s connected (MiB)`, rss.agent.toFixed(1), rss.base.toFixed(1), (rss.agent / rss.base).toFixed(2)],
  [`idle CPU over ${WINDOW_S} s (% of a core)`, pct(cpu0.agent, cpu1.agent, WINDOW_S).toFixed(3), pct(cpu0.base, cpu1.base, WINDOW_S).toFixed(3), ''],
  [`CPU, last ${WINDOW_S / 2} s (% of a core)`, pct(cpuMid.agent, cpu1.agent, WINDOW_S / 2).toFixed(3), pct(cpuMid.base, cpu1.base, WINDOW_S / 2).toFixed(3), ''],
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
console.log(`agent health at the end: ${report?.health}; children: ${report?.children.map((c) => `${c.id}=${c.phase}`).join(' ')}`);
console.log(`goals: RSS ≤ 1.5× → ${rss.agent / rss.base <= 1.5 ? 'met' : 'NOT met'}; CPU ≤ 0.3 % → ${pct(cpu0.agent, cpu1.agent, WINDOW_S) <= 0.3 ? 'met' : 'NOT met'}`);
console.log(`node ${process.version}, ${process.platform}/${process.arch}`);

agent.kill('SIGTERM');
baseline.kill('SIGKILL');
await new Promise((r) => agent.once('exit', r));
await server.cleanup();
await rm(dir, { recursive: true, force: true });
