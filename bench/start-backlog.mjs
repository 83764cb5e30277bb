#!/usr/bin/env node
/**
 * Start → first heartbeat with a results backlog present (issue #15 table, last row). Needs the
 * compiled agent (`npx tsc -p tsconfig.json`); `--bin PATH` measures another executable (the
 * release build) instead of `node dist/bin/kanade-agent.js`.
 *
 *   node bench/start-backlog.mjs [--backlog 100000] [--rounds 3] [--bin release/kanade-agent]
 *   node bench/start-backlog.mjs --bins now=.,before=/tmp/old-checkout,exe=/tmp/rel/kanade-agent
 *
 * `--bins` compares builds side by side in one run (a directory runs its dist/ under this node, a
 * file is run as an executable); each round runs every build on the empty and the backlog dir.
 *
 * On a real nats-server, it spawns `kanade-agent run` on a data dir whose `outbox/` holds
 * `--backlog` realistic results (and, side by side, on an empty one) and times spawn → the first
 * `heartbeat.<pc_id>` seen by a subscriber. Rounds alternate empty / backlog; medians are printed.
 * The last line is one JSON object.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { startNatsServer } = await dist('devtools/dev-broker/nats-server.js');
const { bootstrapBackendResources } = await dist('devtools/dev-broker/bootstrap.js');
const { encodeExecResult } = await dist('contract/index.js');

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const BACKLOG = Number(arg('--backlog', 100_000));
const ROUNDS = Number(arg('--rounds', 3));
const BIN = arg('--bin', undefined);
const BINS = arg('--bins', undefined)
  ?.split(',')
  .map((entry) => {
    const [label, where] = entry.split('=');
    const isDir = statSync(where).isDirectory();
    return {
      label,
      cmd: isDir ? process.execPath : where,
      args: isDir ? [path.join(path.resolve(where), 'dist', 'bin', 'kanade-agent.js')] : [],
    };
  }) ?? [
  {
    label: BIN ?? 'node dist/bin/kanade-agent.js',
    cmd: BIN ?? process.execPath,
    args: BIN === undefined ? [path.join(root, 'dist', 'bin', 'kanade-agent.js')] : [],
  },
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function result(i, pc) {
  return {
    result_id: randomUUID(),
    request_id: randomUUID(),
    pc_id: pc,
    manifest_id: 'inventory-software',
    exit_code: 0,
    skipped: false,
    stdout: Array.from({ length: 14 }, (_, n) => `Package-${n}  ${n}.${i % 10}  installed`).join('\n'),
    stderr: '',
    started_at: '2026-11-27T05:00:00.000Z',
    finished_at: '2026-11-27T05:00:02.375Z',
  };
}

async function agentDir(work, name, url, backlog) {
  const dir = path.join(work, name);
  const dataDir = path.join(dir, 'data');
  const outbox = path.join(dataDir, 'outbox');
  await mkdir(outbox, { recursive: true });
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < backlog) {
        const r = result(next++, name);
        // 0600, as the agent's own enqueue writes them (a looser mode would add a chmod per file at start).
        await writeFile(path.join(outbox, `${r.result_id}.json`), encodeExecResult(r), { mode: 0o600 });
      }
    }),
  );
  const config = path.join(dir, 'agent.toml');
  await writeFile(
    config,
    [
      '[agent]',
      `id = ${JSON.stringify(name)}`,
      `nats_url = ${JSON.stringify(url)}`,
      `data_dir = ${JSON.stringify(dataDir)}`,
      '[log]',
      'level = "warn"',
      'keep_days = 0',
      '[control]',
      `socket = ${JSON.stringify(path.join(dataDir, 'agent.sock'))}`,
      '',
    ].join('\n'),
  );
  return config;
}

/** Spawns the agent; resolves with spawn → first heartbeat (ms), then stops it. */
async function timeToHeartbeat(nc, config, pc, bin) {
  const sub = nc.subscribe(`heartbeat.${pc}`, { max: 1 });
  await nc.flush();
  const t0 = performance.now();
  const child = spawn(bin.cmd, [...bin.args, 'run', '--config', config], {
    stdio: 'ignore',
    env: { ...process.env, KANADE_AGENT_DATA_DIR: '' },
  });
  await sub[Symbol.asyncIterator]().next();
  const ms = performance.now() - t0;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return ms;
}

const server = await startNatsServer();
const work = await mkdtemp(path.join(tmpdir(), 'kanade-start-bench-'));
try {
  const nc = await connect({ servers: server.url });
  await bootstrapBackendResources(nc);
  const empty = await agentDir(work, 'START-EMPTY', server.url, 0);
  const full = await agentDir(work, 'START-BACKLOG', server.url, BACKLOG);
  const runs = Object.fromEntries(BINS.map((b) => [b.label, { empty: [], backlog: [] }]));
  // Warm-up (page cache of the agent's code), not measured.
  for (const bin of BINS) await timeToHeartbeat(nc, empty, 'START-EMPTY', bin);
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const bin of BINS) {
      const mine = runs[bin.label];
      mine.empty.push(await timeToHeartbeat(nc, empty, 'START-EMPTY', bin));
      // SIGKILL leaves the backlog in place (a few files may have been delivered; refill is not needed for the figure).
      mine.backlog.push(await timeToHeartbeat(nc, full, 'START-BACKLOG', bin));
      console.log(
        `round ${r + 1}, ${bin.label}: empty ${mine.empty.at(-1).toFixed(0)} ms, ${BACKLOG} backlog ${mine.backlog.at(-1).toFixed(0)} ms`,
      );
    }
  }
  await nc.close();
  for (const bin of BINS) {
    const mine = runs[bin.label];
    console.log(
      JSON.stringify({
        bench: 'start-backlog',
        bin: bin.label,
        backlog: BACKLOG,
        load: loadavg().map((x) => Math.round(x * 10) / 10),
        empty_ms: Math.round(median(mine.empty)),
        backlog_ms: Math.round(median(mine.backlog)),
        empty_runs: mine.empty.map(Math.round),
        backlog_runs: mine.backlog.map(Math.round),
      }),
    );
  }
} finally {
  await server.cleanup();
  await rm(work, { recursive: true, force: true });
}
