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
import { createOutboxLogic, OUTBOX_DRAIN_EFFECTS } from '../../supervisor/children.js';
import { createDrainBacklog, JETSTREAM_EFFECTS } from '../../actors/outbox/outbox-actors.js';
import { OBJ_RESULT_OUTPUT, resultOutputKey } from '../../contract/index.js';
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
    const child = createActor(createOutboxLogic('results'), { input: services }).start();
    const results = Array.from({ length: 20 }, () => sampleResult());
    for (const r of results) await outboxes.results.enqueue(r);
    expect(child.getSnapshot().matches({ running: { drain: 'paused' } })).toBe(true);
    expect((await readdir(path.join(data.dir, 'outbox'))).filter((n) => n.endsWith('.json'))).toHaveLength(20);

    const nc = await broker.connect();
    hub.connected(nc, broker.url, Date.now());
    await waitUntil(
      async () => (await readdir(path.join(data.dir, 'outbox'))).filter((n) => n.endsWith('.json')).length === 0,
      20_000,
      'outbox empty',
    );
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

  it('delivers all 2,000 results when the broker restarts in the middle of the drain (same store)', async () => {
    await purgeResults();
    const data = await tempDataDir();
    const { services, hub, outboxes } = outboxServices(data.dir);
    const results = Array.from({ length: 2_000 }, () => sampleResult());
    await Promise.all(results.map((r) => outboxes.results.enqueue(r)));
    const nc = await broker.connect();
    // The hub follows the client's status as the connection child would.
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') hub.disconnected(Date.now(), true);
        if (s.type === 'reconnect') hub.connected(nc, broker.url, Date.now());
      }
    })();
    hub.connected(nc, broker.url, Date.now());
    // A short ack bound so requests lost in the restart are retried quickly.
    const child = createActor(createOutboxLogic('results', { ackTimeoutMs: 2_000 }), { input: services }).start();
    const remaining = async () => (await readdir(path.join(data.dir, 'outbox'))).filter((n) => n.endsWith('.json')).length;
    await waitUntil(async () => (await remaining()) < 1_950, 20_000, 'drain under way');
    const remainingAtRestart = await remaining();
    await broker.restart();
    expect(remainingAtRestart).toBeGreaterThan(0);
    await waitUntil(async () => (await remaining()) === 0, 40_000, 'outbox empty after restart');
    const tally = tallyResults(await readStream(broker.nc, STREAM_RESULTS));
    expect(tally.ids.size).toBe(2_000);
    expect(results.every((r) => tally.ids.has(r.result_id))).toBe(true);
    expect(tally.identical).toBe(true);
    console.info(`broker restart mid-drain: 2000 delivered, ${tally.duplicates} duplicate copies`);
    child.send({ type: 'shutdown' });
    await nc.close();
    await data.cleanup();
  });

  it('quarantines a corrupt, an empty and a wrongly typed file with reasons while the others arrive', async () => {
    await purgeResults();
    const data = await tempDataDir();
    const { services, hub, outboxes } = outboxServices(data.dir);
    const good = Array.from({ length: 5 }, () => sampleResult());
    for (const r of good) await outboxes.results.enqueue(r);
    const dir = path.join(data.dir, 'outbox');
    await writeFile(path.join(dir, 'corrupt.json'), '{"result_id": "abc", ');
    await writeFile(path.join(dir, 'empty.json'), '');
    await writeFile(path.join(dir, 'array.json'), '[1, 2, 3]');
    hub.connected(broker.nc, broker.url, Date.now());
    const child = createActor(createOutboxLogic('results'), { input: services }).start();
    await waitUntil(async () => (await readdir(dir)).filter((n) => n.endsWith('.json')).length === 0, 20_000, 'outbox empty');
    const stuck = await outboxes.results.store.stuck.list();
    expect(stuck.map((s) => s.name).sort()).toEqual(['array.json', 'corrupt.json', 'empty.json']);
    const reason = (name: string) => stuck.find((s) => s.name === name)?.reason ?? '';
    expect(reason('empty.json')).toMatch(/empty file/);
    expect(reason('corrupt.json')).toMatch(/not valid UTF-8 JSON/);
    expect(reason('array.json')).toMatch(/expected an object/);
    const tally = tallyResults(await readStream(broker.nc, STREAM_RESULTS));
    expect([...tally.ids].sort()).toEqual(good.map((r) => r.result_id).sort());
    await waitUntil(() => child.getSnapshot().context.status.stuck === 3, 5_000, 'stuck count in status');
    // A second bad file of the same name gets a numbered twin, never overwriting the first.
    await writeFile(path.join(dir, 'empty.json'), '');
    // A file dropped in from outside is walked within OUTBOX_EMPTY_RESCAN_TICKS; wake the drain now.
    child.send({ type: 'result.enqueued' });
    await waitUntil(async () => (await outboxes.results.store.stuck.list()).length === 4, 10_000, 'second quarantine');
    expect((await readdir(path.join(dir, 'stuck'))).sort()).toContain('empty.json.1.reason');
    child.send({ type: 'shutdown' });
    await data.cleanup();
  });

  it('offloads a 600,000-byte stdout, reuses the object for the same body and takes .r1 for a different one', async () => {
    await purgeResults();
    const data = await tempDataDir();
    const { services, hub, outboxes } = outboxServices(data.dir);
    hub.connected(broker.nc, broker.url, Date.now());
    const child = createActor(createOutboxLogic('results'), { input: services }).start();
    const dir = path.join(data.dir, 'outbox');
    const empty = async () => (await readdir(dir)).filter((n) => n.endsWith('.json')).length === 0;
    const bigText = 'é'.repeat(100_000) + 'x'.repeat(400_000); // 600,000 UTF-8 bytes
    expect(Buffer.byteLength(bigText)).toBe(600_000);
    const first = sampleResult({ stdout: bigText, stderr: 'small' });
    await outboxes.results.enqueue(first);
    await waitUntil(empty, 20_000, 'first delivered');
    const os = await broker.objm.open(OBJ_RESULT_OUTPUT);
    const key = resultOutputKey(first.request_id, first.pc_id, 'stdout');
    const published = tallyResults(await readStream(broker.nc, STREAM_RESULTS));
    expect(published.ids.has(first.result_id)).toBe(true);
    const stream1 = await readStream(broker.nc, STREAM_RESULTS);
    const body = JSON.parse(stream1[0]!.body) as Record<string, unknown>;
    expect(body['stdout']).toBe('');
    expect(body['stdout_object']).toBe(key);
    expect(body['stderr']).toBe('small');
    expect(body['stderr_object']).toBeUndefined();
    expect(Buffer.from((await os.getBlob(key))!).toString('utf8')).toBe(bigText);

    // The same result again (a retry after a lost ack): same key, no new revision, identical bytes.
    await outboxes.results.enqueue(first);
    await waitUntil(empty, 20_000, 're-enqueued delivered');
    expect(await os.info(`${key}.r1`)).toBeNull();
    const stream2 = await readStream(broker.nc, STREAM_RESULTS);
    expect(stream2).toHaveLength(2);
    expect(stream2[1]!.body).toBe(stream2[0]!.body);

    // A different body under the same request_id: never overwrite, take .r1.
    const second = sampleResult({ request_id: first.request_id, stdout: 'y'.repeat(300_000) });
    await outboxes.results.enqueue(second);
    await waitUntil(empty, 20_000, 'second delivered');
    const stream3 = await readStream(broker.nc, STREAM_RESULTS);
    const third = JSON.parse(stream3[2]!.body) as Record<string, unknown>;
    expect(third['stdout_object']).toBe(`${key}.r1`);
    expect(Buffer.from((await os.getBlob(`${key}.r1`))!).toString('utf8')).toBe('y'.repeat(300_000));
    expect(Buffer.from((await os.getBlob(key))!).toString('utf8')).toBe(bigText);
    child.send({ type: 'shutdown' });
    await data.cleanup();
  });

  it('times out an ack that never comes, backs off and retries it while the other files drain', async () => {
    await purgeResults();
    const data = await tempDataDir();
    const { services, hub, outboxes } = outboxServices(data.dir);
    const stalled = sampleResult();
    const others = Array.from({ length: 30 }, () => sampleResult());
    await outboxes.results.enqueue(stalled);
    for (const r of others) await outboxes.results.enqueue(r);
    let stalledAttempts = 0;
    const drainBacklog = createDrainBacklog({
      ...OUTBOX_DRAIN_EFFECTS,
      publishFactory: (nc, svc) => {
        const real = JETSTREAM_EFFECTS.publishFactory(nc, svc);
        return (subject, payload, timeoutMs) => {
          if (subject === `results.${stalled.request_id}` && ++stalledAttempts === 1) return new Promise<void>(() => undefined);
          return real(subject, payload, timeoutMs);
        };
      },
    });
    hub.connected(broker.nc, broker.url, Date.now());
    const ACK_TIMEOUT_MS = 300;
    const machine = createOutboxLogic('results', { ackTimeoutMs: ACK_TIMEOUT_MS }).provide({ actors: { drainBacklog } });
    const child = createActor(machine, { input: services }).start();
    const stalledFile = `${stalled.result_id}.json`;
    // The others arrive while the stalled one waits for its (never coming) ack.
    await waitUntil(async () => tallyResults(await readStream(broker.nc, STREAM_RESULTS)).ids.size === 30, 20_000, 'others delivered');
    expect(tallyResults(await readStream(broker.nc, STREAM_RESULTS)).ids.has(stalled.result_id)).toBe(false);
    await waitUntil(() => outboxes.results.drain.failuresOf(stalledFile) === 1, 5_000, 'ack timeout counted');
    expect(child.getSnapshot().context.status.last_error ?? '').toMatch(/no PubAck within 300 ms/);
    // After the 1 s backoff the next attempt publishes for real.
    await waitUntil(
      async () => tallyResults(await readStream(broker.nc, STREAM_RESULTS)).ids.has(stalled.result_id),
      10_000,
      'stalled delivered',
    );
    expect(stalledAttempts).toBe(2);
    await waitUntil(
      async () => (await readdir(path.join(data.dir, 'outbox'))).filter((n) => n.endsWith('.json')).length === 0,
      5_000,
      'outbox empty',
    );
    child.send({ type: 'shutdown' });
    await data.cleanup();
  });

  it('drains events-outbox/ to events.started.<exec_id>.<pc_id> and obs-outbox/ to obs.<pc_id>', async () => {
    const data = await tempDataDir();
    const { services, hub, outboxes } = outboxServices(data.dir);
    hub.connected(broker.nc, broker.url, Date.now());
    const events = createActor(createOutboxLogic('events'), { input: services }).start();
    const obs = createActor(createOutboxLogic('obs'), { input: services }).start();
    const started = {
      result_id: sampleResult().result_id,
      request_id: 'req-1',
      exec_id: `exec-${Date.now()}`,
      pc_id: 'PC-TEST',
      started_at: '2026-11-27T05:00:00.000Z',
      manifest_id: 'm',
      version: '1.0.0',
    };
    const online = {
      pc_id: `PC-OBS-${Date.now()}`,
      at: '2026-11-27T05:00:00.000Z',
      kind: 'agent_online',
      source: 'agent:startup',
      event_record_id: 'startup_x',
    };
    await outboxes.events.enqueue(started);
    await outboxes.obs.enqueue(online);
    const find = async (stream: string, subject: string) => (await readStream(broker.nc, stream)).find((m) => m.subject === subject);
    await waitUntil(async () => (await find('EVENTS', `events.started.${started.exec_id}.PC-TEST`)) !== undefined, 20_000, 'EventStarted');
    await waitUntil(async () => (await find('OBS_EVENTS', `obs.${online.pc_id}`)) !== undefined, 20_000, 'ObsEvent');
    expect(JSON.parse((await find('EVENTS', `events.started.${started.exec_id}.PC-TEST`))!.body)).toEqual(started);
    expect(JSON.parse((await find('OBS_EVENTS', `obs.${online.pc_id}`))!.body)).toEqual(online);
    await waitUntil(
      async () => (await readdir(path.join(data.dir, 'obs-outbox'))).filter((n) => n.endsWith('.json')).length === 0,
      5_000,
      'obs outbox empty',
    );
    events.send({ type: 'shutdown' });
    obs.send({ type: 'shutdown' });
    await data.cleanup();
  });
});
