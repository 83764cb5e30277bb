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
 * Side by side with other builds: AGENTS="now=.,before=/tmp/old-checkout,exe=/tmp/rel/kanade-agent"
 * (a directory runs its dist/ under this node, a file is run as an executable); every agent and
 * the bare process run at the same time against the same server.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { bootstrapBackendResources } from '../dist/devtools/dev-broker/bootstrap.js';
import { startNatsServer } from '../dist/devtools/dev-broker/nats-server.js';

const WINDOW_S = Number(process.env.WINDOW_S ?? 60);
const WARMUP_S = Number(process.env.WARMUP_S ?? 35);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AGENTS = (process.env.AGENTS ?? `agent=${ROOT}`).split(',').map((entry) => {
  const [label, where] = entry.split('=');
  const isDir = statSync(where).isDirectory();
  return { label, cmd: isDir ? process.execPath : where, args: isDir ? [join(where, 'dist/bin/kanade-agent.js')] : [] };
});
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of a process in seconds (/proc/<pid>/stat fields 14 and 15). */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
/** Resident set size in MiB. */
function rssMiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readSocket(path) {
  return new Promise((resolve) => {
    const c = net.connect(path);
    let body = '';
    c.on('data', (d) => (body += d));
    c.on('end', () => {
      try {
        resolve(JSON.parse(body));
      } catch {
        resolve(null);
      }
    });
    c.on('error', () => resolve(null));
  });
}

const server = await startNatsServer();
const boot = await connect({ servers: server.url });
await bootstrapBackendResources(boot);
await boot.close();
const dir = await mkdtemp(join(tmpdir(), 'kanade-bench-idle-'));
const agentConfigs = await Promise.all(
  AGENTS.map(async (a, i) => {
    const socket = join(dir, `data${i}`, 'agent.sock');
    const configPath = join(dir, `agent${i}.toml`);
    await writeFile(
      configPath,
      [
        '[agent]',
        `id = "bench-idle-${i}"`,
        `nats_url = "${server.url}"`,
        `data_dir = "${join(dir, `data${i}`)}"`,
        '[log]',
        'level = "warn"',
        `path = "${join(dir, `agent${i}.log`)}"`,
        '[control]',
        `socket = "${socket}"`,
        '',
      ].join('\n'),
    );
    return { ...a, socket, configPath };
  }),
);

// The baseline: the same nats.js, one connection, nothing else.
const baselineSrc = `
  import { connect } from '@nats-io/transport-node';
  const nc = await connect({ servers: ${JSON.stringify(server.url)}, name: 'bench-baseline' });
  console.log('connected');
  setInterval(() => {}, 1 << 30);
`;
const env = { ...process.env, KANADE_AGENT_DATA_DIR: '' };
const agents = agentConfigs.map((a) => ({
  ...a,
  t0: performance.now(),
  proc: spawn(a.cmd, [...a.args, 'run', '--config', a.configPath], { env, stdio: 'ignore' }),
}));
const t0Base = performance.now();
const baseline = spawn(process.execPath, ['--input-type=module', '-e', baselineSrc], { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
const baseConnected = new Promise((resolve) => baseline.stdout.once('data', () => resolve(performance.now() - t0Base)));

await Promise.all(
  agents.map(async (a) => {
    for (let i = 0; i < 1500 && a.connectedMs === undefined; i++) {
      const report = await readSocket(a.socket);
      if (report?.connection?.connected) a.connectedMs = performance.now() - a.t0;
      else await sleep(20);
    }
    if (a.connectedMs === undefined) throw new Error(`agent ${a.label} never connected`);
  }),
);
const baseConnectedMs = await baseConnected;

const cpuAll = () => ({ base: cpuSeconds(baseline.pid), ...Object.fromEntries(agents.map((a) => [a.label, cpuSeconds(a.proc.pid)])) });
const cpuStart = cpuAll();
await sleep(WARMUP_S * 1000);
const cpu0 = cpuAll();
await sleep((WINDOW_S / 2) * 1000);
const cpuMid = cpuAll();
await sleep((WINDOW_S / 2) * 1000);
const cpu1 = cpuAll();
const rss = { base: rssMiB(baseline.pid), ...Object.fromEntries(agents.map((a) => [a.label, rssMiB(a.proc.pid)])) };
const reports = await Promise.all(agents.map((a) => readSocket(a.socket)));

const pct = (a, b, s) => ((b - a) / s) * 100;
const rows = [
  ['', ...agents.map((a) => a.label), 'bare nats.js', ...agents.map((a) => `ratio ${a.label}`)],
  [
    'start → connected (ms)',
    ...agents.map((a) => a.connectedMs.toFixed(0)),
    baseConnectedMs.toFixed(0),
    ...agents.map((a) => (a.connectedMs / baseConnectedMs).toFixed(2)),
  ],
  [
    `CPU s in the ${WARMUP_S} s after connecting (incl. boot inventory)`,
    ...agents.map((a) => (cpu0[a.label] - cpuStart[a.label]).toFixed(2)),
    (cpu0.base - cpuStart.base).toFixed(2),
    ...agents.map(() => ''),
  ],
  [
    `RSS after ${WARMUP_S + WINDOW_S} s connected (MiB)`,
    ...agents.map((a) => rss[a.label].toFixed(1)),
    rss.base.toFixed(1),
    ...agents.map((a) => (rss[a.label] / rss.base).toFixed(2)),
  ],
  [
    `idle CPU over ${WINDOW_S} s (% of a core)`,
    ...agents.map((a) => pct(cpu0[a.label], cpu1[a.label], WINDOW_S).toFixed(3)),
    pct(cpu0.base, cpu1.base, WINDOW_S).toFixed(3),
    ...agents.map(() => ''),
  ],
  [
    `CPU, last ${WINDOW_S / 2} s (% of a core)`,
    ...agents.map((a) => pct(cpuMid[a.label], cpu1[a.label], WINDOW_S / 2).toFixed(3)),
    pct(cpuMid.base, cpu1.base, WINDOW_S / 2).toFixed(3),
    ...agents.map(() => ''),
  ],
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
agents.forEach((a, i) =>
  console.log(
    `${a.label} health at the end: ${reports[i]?.health}; children: ${reports[i]?.children.map((c) => `${c.id}=${c.phase}`).join(' ')}`,
  ),
);
console.log(
  `node ${process.version}, ${process.platform}/${process.arch}, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(
  JSON.stringify({
    bench: 'idle-footprint',
    load: loadavg()[0],
    rss_mib: rss,
    ratio: Object.fromEntries(agents.map((a) => [a.label, rss[a.label] / rss.base])),
    connected_ms: Object.fromEntries(agents.map((a) => [a.label, a.connectedMs])),
    base_connected_ms: baseConnectedMs,
  }),
);

for (const a of agents) a.proc.kill('SIGTERM');
baseline.kill('SIGKILL');
await Promise.all(agents.map((a) => new Promise((r) => (a.proc.exitCode !== null ? r() : a.proc.once('exit', r)))));
await server.cleanup();
await rm(dir, { recursive: true, force: true });
