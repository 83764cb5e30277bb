#!/usr/bin/env node
/**
 * Bench for issue #17 items 5/6 (docs/PERFORMANCE.md, "Hostile-body flood"): the agent's RSS idle,
 * at its peak and 5 s after a flood of FLOOD hostile bodies (~8 KB each: JSON nested 100,000 deep,
 * bad JSON, random bytes, a request_id that is an object) on its own `commands.pc.<pc_id>` subject.
 * Every body must be screened and acked with bounded work; memory must come back near idle.
 * Needs `npx tsc -p tsconfig.json` first. Run: node bench/intake-flood.mjs (FLOOD=10000).
 * `MEM_PROBE=1` preloads bench/mem-probe.mjs in the agent and prints heap used / heap total /
 * external / RSS at each reading; `AGENT_NODE_FLAGS="--trace-gc …"` adds node flags to the agent;
 * `AGENT_ROOT=/other/checkout` runs another build's dist/ (side-by-side comparisons).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../dist/devtools/dev-broker/nats-server.js';
import { bootstrapBackendResources } from '../dist/devtools/dev-broker/bootstrap.js';
import { readControlSocket } from '../dist/actors/control-socket.js';

const FLOOD = Number(process.env.FLOOD ?? 10_000);
const SETTLE_MS = Math.max(5_000, Number(process.env.SETTLE_MS ?? 60_000));
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AGENT_ROOT = process.env.AGENT_ROOT ?? ROOT;
const MEM_PROBE = process.env.MEM_PROBE === '1';
const AGENT_NODE_FLAGS = (process.env.AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const rssMb = async (pid) => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = await startNatsServer();
const nc = await connect({ servers: server.url });
await bootstrapBackendResources(nc);
const dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-bench-flood-'));
const pcId = 'BENCH-FLOOD';
const socket = path.join(dir, 'agent.sock');
const configPath = path.join(dir, 'agent.toml');
await writeFile(
  configPath,
  [
    '[agent]',
    `id = "${pcId}"`,
    `nats_url = "${server.url}"`,
    `data_dir = ${JSON.stringify(path.join(dir, 'data'))}`,
    '[log]',
    'level = "error"',
    'keep_days = 0',
    '[control]',
    `socket = ${JSON.stringify(socket)}`,
    '',
  ].join('\n'),
);
const probeFile = path.join(dir, 'mem-probe.jsonl');
const agent = spawn(
  process.execPath,
  [
    ...AGENT_NODE_FLAGS,
    ...(MEM_PROBE ? ['--import', path.join(ROOT, 'bench/mem-probe.mjs')] : []),
    path.join(AGENT_ROOT, 'dist/bin/kanade-agent.js'),
    'run',
    '--config',
    configPath,
  ],
  {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, KANADE_AGENT_DATA_DIR: '', MEM_PROBE_FILE: MEM_PROBE ? probeFile : '' },
  },
);
/** The probe's last line (heap used/total, external, RSS as the agent sees them), or '' without MEM_PROBE. */
const probe = async () => {
  if (!MEM_PROBE) return '';
  const lines = (await readFile(probeFile, 'utf8').catch(() => '')).trim().split('\n');
  const m = JSON.parse(lines.at(-1) || '{}');
  return ` [heap used ${m.heap_used} / total ${m.heap_total} (new ${m.new_space}, old ${m.old_space}, large ${m.large_object_space}), external ${m.external} (array buffers ${m.array_buffers}), rss ${m.rss}]`;
};
const readings = {};
const received = async () => {
  try {
    const report = JSON.parse(await readControlSocket(socket, 2_000));
    return report.children.find((c) => c.id === 'executor')?.status?.intake_queue?.received ?? 0;
  } catch {
    return -1;
  }
};

try {
  for (let i = 0; (await received()) < 0; i += 1) {
    if (i > 300) throw new Error('agent did not answer on its control socket');
    await sleep(100);
  }
  await sleep(5_000);
  const idle = await rssMb(agent.pid);
  readings.idle = await probe();
  const size = 8 * 1024;
  const bodies = [
    `{"request_id":${'['.repeat(size / 2)}${']'.repeat(size / 2)}}`,
    `{"request_id":"${'x'.repeat(size)}`,
    null,
    `{"request_id":{"a":"${'y'.repeat(size)}"},"shell":"sh"}`,
  ];
  let peak = idle;
  const sampler = setInterval(() => {
    rssMb(agent.pid).then(
      async (v) => {
        if (v > peak) {
          peak = v;
          readings.peak = await probe();
        }
      },
      () => undefined,
    );
  }, 100);
  const before = await received();
  const t0 = performance.now();
  for (let i = 0; i < FLOOD; i += 1) {
    nc.publish(`commands.pc.${pcId}`, bodies[i % 4] ?? randomBytes(size));
    if (i % 500 === 499) await nc.flush();
  }
  await nc.flush();
  // Until every body arrived, or the count stopped moving for 3 s (the server may cut a slow consumer).
  let got = 0;
  let floodMs = 0;
  for (let last = -1, still = 0; got < FLOOD && still < 30 && performance.now() - t0 < 120_000; await sleep(100)) {
    got = (await received()) - before;
    if (got !== last) {
      last = got;
      still = 0;
      floodMs = performance.now() - t0;
    } else still += 1;
  }
  await sleep(5_000);
  clearInterval(sampler);
  const after = await rssMb(agent.pid);
  readings.after = await probe();
  // V8 gives heap back lazily: a second reading after SETTLE_MS (default 60 s) shows where RSS settles.
  await sleep(SETTLE_MS - 5_000);
  const settled = await rssMb(agent.pid);
  readings.settled = await probe();
  console.log(
    `flood of ${FLOOD} hostile bodies (~8 KB each, ${((FLOOD * size) / 1e6).toFixed(0)} MB), node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`,
  );
  console.log(
    `${got} received and screened in ${floodMs.toFixed(0)} ms (${Math.round(got / (floodMs / 1000))}/s; status counts once a second)`,
  );
  console.log(
    `RSS idle ${idle.toFixed(1)} MB, peak ${peak.toFixed(1)} MB (+${(peak - idle).toFixed(1)}), 5 s after ${after.toFixed(1)} MB (+${(after - idle).toFixed(1)}), ${SETTLE_MS / 1000} s after ${settled.toFixed(1)} MB (+${(settled - idle).toFixed(1)})`,
  );
  if (MEM_PROBE) for (const [k, v] of Object.entries(readings)) console.log(`  ${k}:${v}`);
  console.log(
    JSON.stringify({
      bench: 'intake-flood',
      agent: AGENT_ROOT,
      flags: AGENT_NODE_FLAGS,
      load: os.loadavg()[0],
      received: got,
      idle_mb: idle,
      peak_mb: peak,
      after5_mb: after,
      settled_mb: settled,
      settle_ms: SETTLE_MS,
    }),
  );
} finally {
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('exit', r));
  await nc.close();
  await server.cleanup();
  await rm(dir, { recursive: true, force: true });
}
