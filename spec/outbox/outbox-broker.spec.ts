/**
 * The outbox against a real nats-server: delivery after the broker comes back, a broker restart in
 * the middle of a 2,000-file drain, quarantine of bad files, big output offload, and an ack that
 * never comes. Delivery is at-least-once (contract §1: no Nats-Msg-Id, the backend upserts on
 * result_id): every id must arrive, copies must be byte-identical, duplicates are counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startBroker, type Broker } from '../harness/broker.js';
import { createOutboxMachine } from '../../machines/outbox-machine.js';
import { encodeExecResult, STREAM_RESULTS } from '../../contract/index.js';
import { outboxServices, readStream, sampleResult, tallyResults, tempDataDir, waitUntil } from './helpers.js';

let broker: Broker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

async function purgeResults(): Promise<void> {
  await broker.jsm.streams.purge(STREAM_RESULTS);
}

describe('outbox drain against a real broker', () => {
  it('holds results enqueued while the broker is away and delivers them when it connects', async () => {
    await purgeResults();
    const data = await tempDataDir();
    const { services, hub, outboxes } = outboxServices(data.dir);
    const child = createActor(createOutboxMachine('results'), { input: services }).start();
    const results = Array.from({ length: 20 }, () => sampleResult());
    for (const r of results) await outboxes.results.enqueue(r);
    expect(child.getSnapshot().matches({ running: { drain: 'paused' } })).toBe(true);
    expect((await readdir(path.join(data.dir, 'outbox'))).filter((n) => n.endsWith('.json'))).toHaveLength(20);

    const nc = await broker.connect();
    hub.connected(nc, broker.url, Date.now());
    await waitUntil(async () => (await readdir(path.join(data.dir, 'outbox'))).filter((n) => n.endsWith('.json')).length === 0, 20_000, 'outbox empty');
    const stream = await readStream(broker.nc, STREAM_RESULTS);
    const tally = tallyResults(stream);
    expect([...tally.ids].sort()).toEqual(results.map((r) => r.result_id).sort());
    expect(tally.identical).toBe(true);
    expect(stream.every((m) => m.subject.startsWith('results.'))).toBe(true);
    expect(stream.find((m) => m.subject === `results.${results[0]!.request_id}`)?.body).toBe(encodeExecResult(results[0]!));
    child.send({ type: 'shutdown' });
    expect(child.getSnapshot().status).toBe('done');
    await data.cleanup();
  });
});
