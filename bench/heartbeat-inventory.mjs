#!/usr/bin/env node
/**
 * Bench for issue 6 (docs/PERFORMANCE.md, "Heartbeat, config, inventory"): the cost of one
 * periodic heartbeat tick (keyring re-read, perf sample, build, encode, core publish to a local
 * nats-server) and the time and CPU of one full inventory (hw + sw + net) in this process.
 * Needs `npx tsc -p tsconfig.json` first (it imports dist/). Run: node bench/heartbeat-inventory.mjs
 */
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../dist/devtools/dev-broker/nats-server.js';
import { createPublishHeartbeat } from '../dist/actors/heartbeat/publish-heartbeat.js';
import { collectInventory, createCollector } from '../dist/actors/inventory/collect-inventory.js';
import { NO_FAILPOINTS } from '../dist/actors/failpoints.js';
import { pino } from 'pino';
import { createActor, toPromise } from 'xstate';

const BEATS = Number(process.env.BEATS ?? 2_000);
const INVENTORY_RUNS = Number(process.env.INVENTORY_RUNS ?? 3);

const cpuMs = (since) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

const server = await startNatsServer();
const nc = await connect({ servers: server.url });
const services = {
  config: { pcId: 'BENCH', security: { commandKeysFile: '/nonexistent/command-keys.json', requireSignedCommands: false } },
  log: pino({ level: 'silent' }),
  agentVersion: 'bench',
  failpoints: NO_FAILPOINTS,
};
const tick = createPublishHeartbeat();
let previous = null;
// Warm up the JIT and the keyring.
for (let i = 0; i < 100; i += 1) previous = (await toPromise(createActor(tick, { input: { services, nc, previous } }).start())).sample;
await nc.flush();
const wall0 = performance.now();
const cpu0 = process.cpuUsage();
for (let i = 0; i < BEATS; i += 1) {
  const out = await toPromise(createActor(tick, { input: { services, nc, previous } }).start());
  previous = out.sample;
}
await nc.flush();
const beatCpuUs = (cpuMs(cpu0) * 1000) / BEATS;
const beatWallUs = ((performance.now() - wall0) * 1000) / BEATS;
console.log(
  `heartbeat tick: ${BEATS} ticks, ${beatWallUs.toFixed(0)} µs wall and ${beatCpuUs.toFixed(0)} µs CPU per tick (keyring re-read + sample + publish)`,
);
console.log(`  at the default 30 s interval that is ${((beatCpuUs / 30_000_000) * 100).toFixed(5)} % of one core`);
await nc.close();
await server.cleanup();

for (let run = 1; run <= INVENTORY_RUNS; run += 1) {
  const collector = createCollector();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const parts = {};
  for (const part of ['hw', 'sw', 'net']) {
    const p0 = performance.now();
    const pc0 = process.cpuUsage();
    const report = await collectInventory(collector, 'BENCH', [part]);
    parts[part] =
      `${(performance.now() - p0).toFixed(0)} ms wall / ${cpuMs(pc0).toFixed(0)} ms CPU${report.failures.length ? ' (FAILED)' : ''}`;
  }
  await collector.dispose();
  console.log(
    `inventory run ${run}: ${(performance.now() - t0).toFixed(0)} ms wall, ${cpuMs(c0).toFixed(0)} ms CPU in the agent process (children not counted); ${JSON.stringify(parts)}`,
  );
}
