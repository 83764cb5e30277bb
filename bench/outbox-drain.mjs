#!/usr/bin/env node
/**
 * Outbox drain benchmark (issue #3). Needs the compiled agent: `npx tsc -p tsconfig.json` first.
 *
 *   node bench/outbox-drain.mjs [--files 20000] [--rss-files 100000] [--rounds 3]
 *
 * On a real nats-server (JetStream file store) and the same 20,000 realistic ExecResult files
 * each time, it measures:
 *   (a) the agent's drain: the real `outbox-results` child machine (window 64, deletes outside it);
 *   (b) a raw baseline: read file, pipelined JetStream publish (window 256), unlink;
 *   (c) a serial drain: read, publish, await the PubAck, unlink, next file;
 * plus the durable enqueue rate (tmp → fsync → rename → dir fsync) and, in a child process, the
 * RSS above idle while a 100,000-file backlog drains. The last line is one JSON object.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createActor } from 'xstate';
import { pino } from 'pino';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { startNatsServer } = await dist('devtools/dev-broker/nats-server.js');
const { bootstrapBackendResources } = await dist('devtools/dev-broker/bootstrap.js');
const { createBrokerHub } = await dist('actors/broker-hub.js');
const { createOutboxes } = await dist('actors/outbox/create-outboxes.js');
const { createLiveValue } = await dist('actors/ports.js');
const { NO_FAILPOINTS } = await dist('actors/failpoints.js');
const { createOutboxLogic } = await dist('supervisor/children.js');
const { encodeExecResult } = await dist('contract/index.js');

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const FILES = arg('--files', 20_000);
const RSS_FILES = arg('--rss-files', 100_000);
const RAW_WINDOW = 256;
const ROUNDS = arg('--rounds', 3);
/** `--rss-only`: skip (a), (b), (c) and measure only the RSS of the 100,000-file drain. */
const RSS_ONLY = args.includes('--rss-only');
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const ENQUEUE_CONCURRENCY = 16;
const log = pino({ level: 'silent' });

/** A realistic ExecResult: ~1 KB of script output. */
function realisticResult(i) {
  return {
    result_id: randomUUID(),
    request_id: randomUUID(),
    pc_id: 'PC-BENCH-0001',
    manifest_id: 'inventory-software',
    exit_code: i % 17 === 0 ? 1 : 0,
    skipped: false,
    stdout: Array.from(
      { length: 14 },
      (_, n) => `Package-${n.toString().padStart(3, '0')}  ${n}.${i % 10}.${n * 3}  installed  2026-11-0${(n % 9) + 1}`,
    ).join('\n'),
    stderr: i % 17 === 0 ? 'warning: 1 package could not be queried\n' : '',
    started_at: '2026-11-27T05:00:00.000Z',
    finished_at: '2026-11-27T05:00:02.375Z',
  };
}

async function count(dir) {
  return (await readdir(dir)).filter((n) => n.endsWith('.json')).length;
}

/** Writes every body with the outbox's own durable enqueue; returns files/s. */
async function durableEnqueue(outbox, results) {
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: ENQUEUE_CONCURRENCY }, async () => {
      while (next < results.length) await outbox.enqueue(results[next++]);
    }),
  );
  return results.length / ((performance.now() - start) / 1000);
}

/** (a) the agent: the outbox-results child machine until the directory is empty. */
async function agentDrain(nc, dataDir, dir) {
  const hub = createBrokerHub();
  const outboxes = createOutboxes(dataDir, 'PC-BENCH-0001', log);
  const services = {
    config: { pcId: 'PC-BENCH-0001', dataDir },
    log,
    agentVersion: 'bench',
    broker: hub,
    outboxes,
    effectiveConfig: createLiveValue({}),
    groups: createLiveValue([]),
    failpoints: NO_FAILPOINTS,
  };
  const total = await count(dir);
  const start = performance.now();
  const child = createActor(createOutboxLogic('results'), { input: services }).start();
  hub.connected(nc, 'bench', Date.now());
  await new Promise((resolve) => {
    const sub = child.subscribe((snap) => {
      const drain = snap.value?.running?.drain;
      if (drain === 'idle' && snap.context.status.depth === 0) {
        sub.unsubscribe();
        resolve();
      }
    });
  });
  const seconds = (performance.now() - start) / 1000;
  child.send({ type: 'shutdown' });
  if ((await count(dir)) !== 0) throw new Error('agent drain left files behind');
  return total / seconds;
}

/** (b) and (c): read, publish (window `window`), unlink. */
async function rawDrain(js, dir, window) {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < names.length) {
        const name = names[next++];
        const bytes = await readFile(path.join(dir, name));
        const { request_id } = JSON.parse(bytes.toString('utf8'));
        await js.publish(`results.${request_id}`, bytes);
        await unlink(path.join(dir, name));
      }
    }),
  );
  return names.length / ((performance.now() - start) / 1000);
}

/** Child process: RSS of the agent's drain over a big backlog, above idle. */
async function rssChild(url, dataDir) {
  // A V8 flag set at run time, as the agent itself would (e.g. --semi-space-growth-factor=1).
  if (process.env.KANADE_BENCH_RUNTIME_V8_FLAGS) (await import('node:v8')).setFlagsFromString(process.env.KANADE_BENCH_RUNTIME_V8_FLAGS);
  const nc = await connect({ servers: url });
  const hub = createBrokerHub();
  const outboxes = createOutboxes(dataDir, 'PC-BENCH-0001', log);
  const services = {
    config: { pcId: 'PC-BENCH-0001', dataDir },
    log,
    agentVersion: 'bench',
    broker: hub,
    outboxes,
    effectiveConfig: createLiveValue({}),
    groups: createLiveValue([]),
    failpoints: NO_FAILPOINTS,
  };
  global.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const idle = process.memoryUsage().rss;
  let peak = idle;
  let peakHeapTotal = 0;
  let peakExternal = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    peakHeapTotal = Math.max(peakHeapTotal, m.heapTotal);
    peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
  }, 50);
  const start = performance.now();
  const child = createActor(createOutboxLogic('results'), { input: services }).start();
  hub.connected(nc, url, Date.now());
  await new Promise((resolve) => {
    const sub = child.subscribe((snap) => {
      if (snap.value?.running?.drain === 'idle' && snap.context.status.depth === 0) {
        sub.unsubscribe();
        resolve();
      }
    });
  });
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  child.send({ type: 'shutdown' });
  await nc.close();
  process.stdout.write(
    JSON.stringify({
      idle_rss_mb: idle / 2 ** 20,
      peak_rss_mb: peak / 2 ** 20,
      peak_heap_total_mb: peakHeapTotal / 2 ** 20,
      peak_external_mb: peakExternal / 2 ** 20,
      rate: RSS_FILES / seconds,
    }) + '\n',
  );
}

/** (a), (b), (c) and the enqueue rates, alternated ROUNDS times; fills `figures`. */
async function throughputRounds(nc, js, jsm, dataDir, dir, figures) {
  const results = Array.from({ length: FILES }, (_, i) => realisticResult(i));
  const writer = createOutboxes(dataDir, 'PC-BENCH-0001', log).results;
  const refill = async () => {
    await jsm.streams.purge('RESULTS');
    return durableEnqueue(writer, results);
  };
  // Warm-up (JIT, page cache, the client's buffers): 2,000 files through each path, not measured.
  const warm = results.slice(0, 2_000);
  await durableEnqueue(writer, warm);
  await agentDrain(nc, dataDir, dir);
  await durableEnqueue(writer, warm);
  await rawDrain(js, dir, RAW_WINDOW);
  // Each drain gets the same 20,000 files, written the same durable way.
  const enqueueRates = [];
  const agentRuns = [];
  const rawRuns = [];
  // (a) and (b) alternate ROUNDS times (the machine is shared: medians resist the noise).
  for (let round = 0; round < ROUNDS; round += 1) {
    enqueueRates.push(await refill());
    agentRuns.push(await agentDrain(nc, dataDir, dir));
    enqueueRates.push(await refill());
    rawRuns.push(await rawDrain(js, dir, RAW_WINDOW));
    console.log(
      `round ${round + 1}: (a) agent drain ${agentRuns.at(-1).toFixed(0)} files/s, (b) raw baseline w=256 ${rawRuns.at(-1).toFixed(0)} files/s`,
    );
  }
  enqueueRates.push(await refill());
  figures.serial_per_s = await rawDrain(js, dir, 1);
  console.log(`(c) serial drain          ${figures.serial_per_s.toFixed(0)} files/s`);
  figures.agent_per_s = median(agentRuns);
  figures.raw_w256_per_s = median(rawRuns);
  figures.agent_runs = agentRuns.map(Math.round);
  figures.raw_runs = rawRuns.map(Math.round);
  console.log(`(a) median ${figures.agent_per_s.toFixed(0)}, (b) median ${figures.raw_w256_per_s.toFixed(0)} files/s`);
  figures.enqueue_durable_per_s = enqueueRates.reduce((a, b) => a + b, 0) / enqueueRates.length;
  console.log(`durable enqueue (${ENQUEUE_CONCURRENCY} concurrent) ${figures.enqueue_durable_per_s.toFixed(0)} files/s`);
  const serialEnqueueStart = performance.now();
  for (const r of results.slice(0, 1_000)) await writer.enqueue(r);
  figures.enqueue_serial_per_s = 1_000 / ((performance.now() - serialEnqueueStart) / 1000);
  console.log(`durable enqueue (one at a time) ${figures.enqueue_serial_per_s.toFixed(0)} files/s`);
  await rawDrain(js, dir, RAW_WINDOW);
}

async function main() {
  if (args[0] === '--rss-child') return rssChild(args[1], args[2]);
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  await bootstrapBackendResources(nc);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const work = await mkdtemp(path.join(tmpdir(), 'kanade-outbox-bench-'));
  const dataDir = path.join(work, 'data');
  const dir = path.join(dataDir, 'outbox');
  try {
    const figures = {};
    if (!RSS_ONLY) await throughputRounds(nc, js, jsm, dataDir, dir, figures);

    // RSS: a 100,000-file backlog (written without fsync: only the drain is measured), once with
    // node's default young generation and once with --max-semi-space-size=2 (the garbage of a
    // fast drain, not live data, is what grows the heap: heap used after GC stays ~10 MB).
    const writeBacklog = async () => {
      await jsm.streams.purge('RESULTS');
      await mkdir(dir, { recursive: true });
      let next = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < RSS_FILES) {
            const r = realisticResult(next++);
            await writeFile(path.join(dir, `${r.result_id}.json`), encodeExecResult(r));
          }
        }),
      );
    };
    const rssRun = (nodeFlags, runtimeFlags = '', extraEnv = {}) =>
      new Promise((resolve, reject) => {
        const p = spawn(
          process.execPath,
          [
            ...nodeFlags,
            '--expose-gc',
            fileURLToPath(import.meta.url),
            '--rss-child',
            server.url,
            dataDir,
            '--rss-files',
            String(RSS_FILES),
          ],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
            env: { ...process.env, ...extraEnv, KANADE_BENCH_RUNTIME_V8_FLAGS: runtimeFlags },
          },
        );
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.on('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`rss child exited ${code}`)),
        );
      });
    // Variants (`--variants a,b`; default all): node defaults; --max-semi-space-size=2 (command line
    // only); the run-time flag `kanade-agent run` sets; the same plus the malloc environment the
    // systemd unit sets (MALLOC_MMAP_THRESHOLD_=65536: socket read buffers are mmapped and returned).
    const VARIANTS = {
      default: { label: 'node defaults', flags: [] },
      semi2: { label: 'node --max-semi-space-size=2', flags: ['--max-semi-space-size=2'] },
      growth1: {
        label: "v8.setFlagsFromString('--semi-space-growth-factor=1') at run time (kanade-agent run)",
        flags: [],
        runtime: '--semi-space-growth-factor=1',
      },
      'growth1-mmap': {
        label: 'the same + MALLOC_MMAP_THRESHOLD_=65536 (the systemd unit)',
        flags: [],
        runtime: '--semi-space-growth-factor=1',
        env: { MALLOC_MMAP_THRESHOLD_: '65536' },
      },
      'growth1-size': {
        label: 'run-time --semi-space-growth-factor=1 --optimize-for-size',
        flags: [],
        runtime: '--semi-space-growth-factor=1 --optimize-for-size',
      },
      'growth1-hgp': {
        label: 'run-time --semi-space-growth-factor=1 --heap-growing-percent=10',
        flags: [],
        runtime: '--semi-space-growth-factor=1 --heap-growing-percent=10',
      },
      'growth1-hgp30': {
        label: 'run-time --semi-space-growth-factor=1 --heap-growing-percent=30',
        flags: [],
        runtime: '--semi-space-growth-factor=1 --heap-growing-percent=30',
      },
      'growth1-hgp50': {
        label: 'run-time --semi-space-growth-factor=1 --heap-growing-percent=50',
        flags: [],
        runtime: '--semi-space-growth-factor=1 --heap-growing-percent=50',
      },
      'growth1-hgp100': {
        label: 'run-time --semi-space-growth-factor=1 --heap-growing-percent=100',
        flags: [],
        runtime: '--semi-space-growth-factor=1 --heap-growing-percent=100',
      },
    };
    const wanted = args.includes('--variants') ? args[args.indexOf('--variants') + 1].split(',') : Object.keys(VARIANTS);
    figures.rss_runs = {};
    for (const name of wanted) {
      const v = VARIANTS[name];
      if (v === undefined) throw new Error(`unknown variant ${name}; known: ${Object.keys(VARIANTS).join(', ')}`);
      await writeBacklog();
      const run = await rssRun(v.flags, v.runtime ?? '', v.env ?? {});
      figures.rss_runs[name] = run;
      figures[`rss_above_idle_${name.replace('-', '_')}_mb`] = run.peak_rss_mb - run.idle_rss_mb;
      figures[`rss_drain_${name.replace('-', '_')}_per_s`] = run.rate;
      console.log(
        `RSS draining ${RSS_FILES} files, ${v.label}: idle ${run.idle_rss_mb.toFixed(1)} MB, peak ${run.peak_rss_mb.toFixed(1)} MB (+${(run.peak_rss_mb - run.idle_rss_mb).toFixed(1)} MB; heap total peak ${run.peak_heap_total_mb.toFixed(1)}, external peak ${run.peak_external_mb.toFixed(1)}), ${run.rate.toFixed(0)} files/s`,
      );
    }
    figures.rss_backlog_files = RSS_FILES;

    if (!RSS_ONLY) {
      figures.files = FILES;
      figures.ratio_a_over_b = figures.agent_per_s / figures.raw_w256_per_s;
      figures.ratio_a_over_c = figures.agent_per_s / figures.serial_per_s;
      figures.goal_met =
        figures.ratio_a_over_b >= 0.8 &&
        figures.ratio_a_over_c >= 1.5 &&
        Math.min(...Object.values(figures.rss_runs).map((r) => r.peak_rss_mb - r.idle_rss_mb)) <= 50;
    }
    const rounded = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 100) / 100 : v]));
    console.log(JSON.stringify({ bench: 'outbox-drain', ...rounded }));
  } finally {
    await nc.close();
    await server.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
