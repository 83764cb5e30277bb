/**
 * Contract §4/§9 against a real nats-server: while the RESULTS stream and the `result_output`
 * object store do not exist (agents started before `kanade jetstream setup`), every attempt fails
 * with "no responders" / stream not found, yet no file is quarantined; once the backend creates the
 * resources the same files are delivered (the big one offloaded). Backoff due times run on an
 * injected clock advanced past the 300 s cap between passes, so 12 attempts take well under a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { startBroker, type Broker } from '../harness/broker.js';
import { bootstrapBackendResources } from '../../devtools/dev-broker/bootstrap.js';
import { createOutbox } from '../../actors/outbox/create-outboxes.js';
import { createJetStreamPublish, createResultPrepare } from '../../actors/outbox/jetstream-publisher.js';
import type { PublishFn } from '../../actors/outbox/publish-message.js';
import { createMessageSlots } from '../../actors/outbox/message-slots.js';
import { bindOutboxMessageEffects } from '../../machines/outbox-message-machine.js';

const createOutboxMessageRunner = createMessageSlots(bindOutboxMessageEffects);
import {
  decodeExecResult,
  OBJ_RESULT_OUTPUT,
  OUTBOX_BACKOFF_CAP_MS,
  OUTBOX_QUARANTINE_AFTER_FAILURES,
  STREAM_RESULTS,
} from '../../contract/index.js';
import { readStream, sampleResult, tempDataDir } from './helpers.js';

let broker: Broker;
beforeAll(async () => {
  broker = await startBroker();
  // The state of a broker the backend has not set up yet.
  await broker.jsm.streams.delete(STREAM_RESULTS);
  await broker.jsm.streams.delete(`OBJ_${OBJ_RESULT_OUTPUT}`);
});
afterAll(async () => {
  await broker?.stop();
});

describe('outbox while its stream and object store do not exist yet', () => {
  it('keeps retrying past the quarantine threshold without moving files to stuck/, then delivers', async () => {
    const data = await tempDataDir();
    const lines: Array<{ level: number; msg: string; file?: string }> = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const dir = path.join(data.dir, 'outbox');
    const outbox = createOutbox('results', dir, log);
    const small = sampleResult();
    const big = sampleResult({ stdout: 'x'.repeat(600_000) });
    await outbox.enqueue(small);
    await outbox.enqueue(big);
    const smallFile = `${small.result_id}.json`;
    const bigFile = `${big.result_id}.json`;

    const nc = await broker.connect();
    const realPublish = createJetStreamPublish(nc);
    const errors: string[] = [];
    const publish: PublishFn = async (subject, payload, timeoutMs) => {
      try {
        await realPublish(subject, payload, timeoutMs);
      } catch (err) {
        errors.push(String(err));
        throw err;
      }
    };
    const prepare = createResultPrepare(nc);
    let now = Date.now();
    const pass = () =>
      outbox.drain.runPass({ publish, prepare, runnerFactory: createOutboxMessageRunner, ackTimeoutMs: 5_000, now: () => now }).done;

    const attempts = OUTBOX_QUARANTINE_AFTER_FAILURES + 2;
    for (let i = 0; i < attempts; i += 1) {
      const summary = await pass();
      expect(summary.delivered).toBe(0);
      now += OUTBOX_BACKOFF_CAP_MS + 1; // due again on the next pass
    }
    expect(errors).toHaveLength(attempts); // the small one reached the broker every time
    expect(errors.every((e) => /jetstream is not enabled|no responders/i.test(e))).toBe(true);
    expect(outbox.drain.waitsOf(smallFile)).toBe(attempts);
    expect(outbox.drain.waitsOf(bigFile)).toBe(attempts); // offload: stream not found
    expect(outbox.drain.failuresOf(smallFile)).toBe(0);
    expect((await readdir(dir)).filter((n) => n.endsWith('.json')).sort()).toEqual([smallFile, bigFile].sort());
    expect(await outbox.store.stuck.list()).toEqual([]);
    // One clear warning per file, not one per retry.
    const warned = lines.filter((l) => l.level === 40 && /not available/.test(l.msg));
    expect(warned.map((l) => l.file).sort()).toEqual([smallFile, bigFile].sort());

    await bootstrapBackendResources(broker.nc);
    const summary = await pass();
    expect(summary.delivered).toBe(2);
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toEqual([]);
    const stream = await readStream(broker.nc, STREAM_RESULTS);
    const delivered = new Map(
      stream.map((m) => {
        const decoded = decodeExecResult(m.body);
        if (!decoded.ok) throw new Error('undecodable result on the stream');
        return [decoded.value.result_id, decoded.value] as const;
      }),
    );
    expect(delivered.get(small.result_id)).toEqual(small);
    expect(delivered.get(big.result_id)?.stdout).toBe('');
    expect(delivered.get(big.result_id)?.stdout_object).toBe(`${big.request_id}/${big.pc_id}/stdout`);
    await nc.close();
    await data.cleanup();
  });
});
