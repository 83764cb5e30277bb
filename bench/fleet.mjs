#!/usr/bin/env node
/**
 * Fleet simulation (issue #15.4). Needs the compiled agent: `npx tsc -p tsconfig.json` first.
 *
 *   node bench/fleet.mjs --agents 100 [--broadcasts 3] [--no-storm]
 *
 * N real `kanade-agent run` processes (distinct pc_ids FLEET-0001 …, own data dirs, default
 * reconnect settings) against a 3-node JetStream cluster on loopback (R3 resources as the backend
 * creates them, monitoring ports on). It measures:
 *   1. a `commands.all` broadcast → each agent's result seen on `results.<request_id>` (p50/p99/max
 *      of publish → result, per agent), and the count stored in RESULTS;
 *   2. the node most agents are connected to is killed (SIGKILL) with a broadcast running and one
 *      sent during the failover → time until every agent of that node heartbeats again, time until
 *      all N are connected to the survivors, and results lost (expected 0);
 *   3. a whole-cluster restart (all three nodes stopped, then started together) → the reconnect
 *      storm: connections/s the servers saw (from /varz total_connections), time until all N
 *      heartbeat again; once with the agents' default reconnect jitter (up to 1 s) and once with the
 *      fleet restarted with KANADE_NATS_RECONNECT_JITTER_MS=0.
 * The last line is one JSON object with every figure. Broadcasts are published with EXEC's PubAck
 * (publishCommand), so one sent during the failover is stored for the orphans' replay consumers.
 * `KEEP=1` keeps the work dir (agent logs `agent-N/agent.log`, node stores) and prints its path;
 * `FLEET_LOG_LEVEL=debug` raises the agents' log level (default warn).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist', p));
const { startNatsServer, pickFreePort } = await dist('devtools/dev-broker/nats-server.js');
const { bootstrapBackendResources } = await dist('devtools/dev-broker/bootstrap.js');
const { commandBytes, draftCommand, publishCommand } = await dist('actors/command-publisher.js');
const { subjects } = await dist('contract/index.js');

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = arg('--agents', 10);
const BROADCASTS = arg('--broadcasts', 3);
const STORM = !args.includes('--no-storm');
/** `KEEP=1` keeps the work dir (agent logs, node stores) and prints its path; `FLEET_LOG_LEVEL` sets the agents' log level. */
const KEEP = process.env.KEEP === '1';
const LOG_LEVEL = process.env.FLEET_LOG_LEVEL ?? 'warn';
const AGENT_BIN = path.join(root, 'dist', 'bin', 'kanade-agent.js');
/** Spawn spacing, so N node processes do not all compile at once on a small machine. */
const SPAWN_GAP_MS = 50;
const pcId = (i) => `FLEET-${String(i + 1).padStart(4, '0')}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (xs, q) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const log = (...parts) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...parts);

async function waitFor(what, timeoutMs, check, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Three clustered nodes with HTTP monitoring (`-m`), started together. */
async function startCluster(work) {
  const name = `kanade-fleet-${process.pid}`;
  const spec = [];
  for (let i = 0; i < 3; i += 1) spec.push({ port: await pickFreePort(), route: await pickFreePort(), monitor: await pickFreePort() });
  const routes = spec.map((s) => `nats-route://127.0.0.1:${s.route}`);
  const nodes = [];
  for (let i = 0; i < 3; i += 1) {
    const storeDir = path.join(work, `store-n${i + 1}`);
    await mkdir(storeDir, { recursive: true });
    const node = await startNatsServer({
      port: spec[i].port,
      storeDir,
      serverName: `${name}-n${i + 1}`,
      cluster: { name, port: spec[i].route, routes: routes.filter((_, j) => j !== i) },
      args: ['-m', String(spec[i].monitor)],
      skipReadyWait: true,
    });
    nodes.push(Object.assign(node, { monitor: spec[i].monitor }));
  }
  await Promise.all(nodes.map((n) => n.waitReady(60_000)));
  return nodes;
}

async function monitor(node, endpoint) {
  try {
    const res = await fetch(`http://127.0.0.1:${node.monitor}/${endpoint}`, { signal: AbortSignal.timeout(2_000) });
    return await res.json();
  } catch {
    return undefined;
  }
}

/** Agents connected to `node` (by connection name = pc_id). */
async function fleetConnections(node) {
  const connz = await monitor(node, 'connz?limit=100000');
  return (connz?.connections ?? []).filter((c) => typeof c.name === 'string' && c.name.startsWith('FLEET-')).map((c) => c.name);
}

/** Watches heartbeats and results through one connection per node (one node may be down). */
async function observe(nodes) {
  const heartbeats = new Map(); // pc_id → [times]
  const results = new Map(); // request_id → Map(pc_id → first seen ms), plus copies
  const copies = new Map();
  const conns = [];
  for (const node of nodes) {
    const nc = await connect({
      servers: [node.url],
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      reconnectJitter: 0,
      waitOnFirstConnect: true,
    });
    nc.subscribe('heartbeat.>', {
      callback: (_err, msg) => {
        const pc = msg.subject.slice('heartbeat.'.length);
        const at = Date.now();
        const list = heartbeats.get(pc) ?? [];
        if (list.at(-1) === undefined || at - list.at(-1) > 5) list.push(at);
        heartbeats.set(pc, list);
      },
    });
    nc.subscribe('results.>', {
      callback: (_err, msg) => {
        const requestId = msg.subject.slice('results.'.length);
        let pc;
        try {
          pc = JSON.parse(new TextDecoder().decode(msg.data)).pc_id;
        } catch {
          return;
        }
        const seen = results.get(requestId) ?? new Map();
        if (!seen.has(pc)) seen.set(pc, Date.now());
        results.set(requestId, seen);
        copies.set(requestId, (copies.get(requestId) ?? 0) + 1);
      },
    });
    conns.push(nc);
  }
  const beatSince = (pc, t) => (heartbeats.get(pc) ?? []).some((at) => at >= t);
  return { heartbeats, results, copies, conns, beatSince };
}

/** One agent process with its own config and data dir. */
async function spawnAgent(work, i, urls, env) {
  const dir = path.join(work, `agent-${i + 1}`);
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const config = path.join(dir, 'agent.toml');
  await writeFile(
    config,
    [
      '[agent]',
      `id = ${JSON.stringify(pcId(i))}`,
      `nats_url = ${JSON.stringify(urls)}`,
      `data_dir = ${JSON.stringify(dataDir)}`,
      '[log]',
      `level = ${JSON.stringify(LOG_LEVEL)}`,
      'keep_days = 0',
      '[control]',
      `socket = ${JSON.stringify(path.join(dataDir, 'agent.sock'))}`,
      '',
    ].join('\n'),
  );
  const out = await open(path.join(dir, 'agent.log'), 'a');
  const child = spawn(process.execPath, [AGENT_BIN, 'run', '--config', config], {
    stdio: ['ignore', out.fd, out.fd],
    env: { ...process.env, KANADE_AGENT_DATA_DIR: '', ...env },
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await out.close();
  return { pc: pcId(i), child, exited };
}

async function startFleet(work, urls, obs, env) {
  const t0 = Date.now();
  const agents = [];
  for (let i = 0; i < N; i += 1) {
    agents.push(await spawnAgent(work, i, urls, env));
    await sleep(SPAWN_GAP_MS);
  }
  await waitFor(`all ${N} agents to heartbeat`, 60_000 + N * 3_000, () => agents.every((a) => obs.beatSince(a.pc, t0)), 200);
  return { agents, startMs: Date.now() - t0 };
}

async function stopFleet(agents) {
  for (const a of agents) a.child.kill('SIGTERM');
  await Promise.race([Promise.all(agents.map((a) => a.exited)), sleep(15_000)]);
  for (const a of agents) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
  await Promise.all(agents.map((a) => a.exited));
}

/** Publishes one broadcast; resolves with per-agent latencies once all N results are seen. */
async function broadcast(nc, obs, script, timeoutMs = 60_000) {
  const cmd = draftCommand({ shell: 'sh', script });
  const t0 = Date.now();
  // The admin connection may be on the node just killed: retry until a survivor takes it.
  await waitFor(
    'the broadcast to be stored',
    60_000,
    () =>
      publishCommand(nc, subjects.commandsAll, commandBytes(cmd)).then(
        () => true,
        () => false,
      ),
    100,
  );
  const done = waitFor(`${N} results of ${cmd.request_id}`, timeoutMs, () => (obs.results.get(cmd.request_id)?.size ?? 0) >= N, 20).then(
    () => true,
    () => false,
  );
  return {
    requestId: cmd.request_id,
    t0,
    async settle() {
      const complete = await done;
      const seen = obs.results.get(cmd.request_id) ?? new Map();
      const latencies = [...seen.values()].map((at) => at - t0);
      return {
        complete,
        got: seen.size,
        copies: obs.copies.get(cmd.request_id) ?? 0,
        p50_ms: quantile(latencies, 0.5),
        p99_ms: quantile(latencies, 0.99),
        max_ms: quantile(latencies, 1),
      };
    },
  };
}

/**
 * Stored copies of results.<requestId> in RESULTS, polled until `expected` are stored or 60 s pass:
 * an observer on `results.>` sees a publish whose PubAck failed (stream leader moving), and the
 * agent's outbox stores it later, on a retry after its backoff.
 */
async function storedResults(jsm, requestId, expected = N) {
  const subject = subjects.results(requestId);
  const count = async () => {
    const info = await jsm.streams.info('RESULTS', { subjects_filter: subject }).catch(() => undefined);
    return info?.state.subjects?.[subject] ?? 0;
  };
  const deadline = Date.now() + 60_000;
  let stored = await count();
  while (stored < expected && Date.now() < deadline) {
    await sleep(250);
    stored = await count();
  }
  return stored;
}

/** Stops all three nodes, starts them together, and watches the reconnect storm. */
async function storm(nodes, obs, agents, label) {
  await Promise.all(nodes.map((n) => n.stop()));
  log(`${label}: cluster stopped`);
  await sleep(1_000);
  const t0 = Date.now();
  const samples = []; // [ms since t0, total_connections summed over nodes]
  let sampling = true;
  const lastTotals = nodes.map(() => 0);
  const sampler = (async () => {
    while (sampling) {
      const varz = await Promise.all(nodes.map((n) => monitor(n, 'varz')));
      varz.forEach((v, i) => {
        if (v !== undefined) lastTotals[i] = v.total_connections;
      });
      samples.push([Date.now() - t0, lastTotals.reduce((a, b) => a + b, 0)]);
      await sleep(100);
    }
  })();
  // restart() waits 10 s for readiness; a loaded machine may need longer (the process keeps running).
  await Promise.all(nodes.map((n) => n.restart().catch(() => n.waitReady(120_000))));
  const readyMs = Date.now() - t0;
  await waitFor(`all ${N} agents to heartbeat after the restart`, 120_000, () => agents.every((a) => obs.beatSince(a.pc, t0)), 50);
  const allBackMs = Date.now() - t0;
  await sleep(1_000);
  sampling = false;
  await sampler;
  // Peak connections/s over any 1 s window of the samples.
  let peak = 0;
  for (let i = 0, j = 0; i < samples.length; i += 1) {
    while (samples[i][0] - samples[j][0] > 1_000) j += 1;
    peak = Math.max(peak, samples[i][1] - (j > 0 ? samples[j - 1][1] : 0));
  }
  const firstBeat = Math.min(...agents.map((a) => (obs.heartbeats.get(a.pc) ?? []).find((at) => at >= t0) ?? Infinity)) - t0;
  const lastBeat = allBackMs;
  return {
    cluster_ready_ms: readyMs,
    first_agent_back_ms: firstBeat,
    all_back_ms: lastBeat,
    spread_ms: lastBeat - firstBeat,
    peak_connections_per_s: peak,
    total_connections: samples.at(-1)?.[1] ?? 0,
  };
}

async function main() {
  const work = await mkdtemp(path.join(tmpdir(), 'kanade-fleet-'));
  const figures = { agents: N, load_at_start: loadavg().map((x) => Math.round(x * 10) / 10) };
  let nodes = [];
  let fleet;
  const cleanup = async () => {
    if (fleet) await stopFleet(fleet.agents).catch(() => undefined);
    await Promise.all(nodes.map((n) => n.cleanup().catch(() => undefined)));
    if (KEEP) log(`work dir kept (KEEP=1): ${work}`);
    else await rm(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    nodes = await startCluster(work);
    const urls = nodes.map((n) => n.url);
    const admin = await connect({ servers: urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    // A loaded machine may still be placing peers right after the cluster answers: retry.
    await waitFor(
      'the R3 backend resources',
      120_000,
      () =>
        bootstrapBackendResources(admin, { replicas: 3 }).then(
          () => true,
          () => false,
        ),
      1_000,
    );
    const jsm = await jetstreamManager(admin);
    const obs = await observe(nodes);
    log(`cluster up (${urls.join(', ')}); starting ${N} agents`);

    fleet = await startFleet(work, urls, obs, {});
    figures.fleet_start_ms = fleet.startMs;
    log(`${N} agents heartbeating after ${fleet.startMs} ms`);

    // 1. Broadcasts.
    figures.broadcasts = [];
    for (let b = 0; b < BROADCASTS; b += 1) {
      const run = await broadcast(admin, obs, 'echo fleet');
      const r = await run.settle();
      await sleep(500);
      r.stored = await storedResults(jsm, run.requestId);
      figures.broadcasts.push(r);
      log(`broadcast ${b + 1}: ${r.got}/${N} results, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms, stored ${r.stored}`);
    }

    // 2. Kill the node most agents use, with one broadcast running and one sent during the failover.
    const perNode = await Promise.all(nodes.map(fleetConnections));
    const victimIndex = perNode.reduce((best, conns, i) => (conns.length > perNode[best].length ? i : best), 0);
    const victim = nodes[victimIndex];
    const orphans = perNode[victimIndex];
    figures.node_kill = { agents_per_node: perNode.map((c) => c.length), victim: victimIndex + 1, agents_on_victim: orphans.length };
    const running = await broadcast(admin, obs, 'sleep 2; echo before-kill', 120_000);
    await sleep(500);
    const tKill = Date.now();
    await victim.kill();
    log(`killed node ${victimIndex + 1} (${orphans.length} agents on it)`);
    const during = await broadcast(admin, obs, 'echo during-failover', 120_000);
    await waitFor('the orphaned agents to heartbeat again', 120_000, () => orphans.every((pc) => obs.beatSince(pc, tKill + 1)), 50);
    figures.node_kill.orphans_heartbeat_again_ms = Date.now() - tKill;
    await waitFor(
      `all ${N} agents connected to the survivors`,
      120_000,
      async () => {
        const conns = await Promise.all(nodes.filter((n) => n !== victim).map(fleetConnections));
        return new Set(conns.flat()).size >= N;
      },
      100,
    );
    figures.node_kill.all_connected_to_survivors_ms = Date.now() - tKill;
    const before = await running.settle();
    const inFailover = await during.settle();
    await sleep(500);
    before.stored = await storedResults(jsm, running.requestId);
    inFailover.stored = await storedResults(jsm, during.requestId);
    figures.node_kill.running_at_kill = before;
    figures.node_kill.sent_during_failover = inFailover;
    figures.node_kill.results_lost = N - before.got + (N - inFailover.got);
    log(
      `node kill: orphans heartbeat again after ${figures.node_kill.orphans_heartbeat_again_ms} ms, all on survivors after ${figures.node_kill.all_connected_to_survivors_ms} ms; results ${before.got}/${N} (running) ${inFailover.got}/${N} (sent during failover), stored ${before.stored}/${inFailover.stored}`,
    );
    await victim.restart().catch(() => victim.waitReady(120_000));
    log(`node ${victimIndex + 1} restarted`);

    // 3. Whole-cluster restart: with the default jitter, then with none.
    if (STORM) {
      figures.storm_with_jitter = await storm(nodes, obs, fleet.agents, 'storm (jitter up to 1 s)');
      log('storm with jitter:', JSON.stringify(figures.storm_with_jitter));
      await stopFleet(fleet.agents);
      fleet = await startFleet(work, urls, obs, { KANADE_NATS_RECONNECT_JITTER_MS: '0' });
      figures.storm_without_jitter = await storm(nodes, obs, fleet.agents, 'storm (no jitter)');
      log('storm without jitter:', JSON.stringify(figures.storm_without_jitter));
    }
    figures.load_at_end = loadavg().map((x) => Math.round(x * 10) / 10);
    for (const nc of obs.conns) await nc.close().catch(() => undefined);
    await admin.close().catch(() => undefined);
    console.log(JSON.stringify({ bench: 'fleet', ...figures }));
  } finally {
    await cleanup();
  }
}

await main();
