/**
 * Regression (bench/fleet.mjs, node kill): a `commands.all` broadcast sent while EXEC's leader node
 * had just been killed ran on the agents connected to the survivors (they got it live) and never on
 * the agents of the killed node, although their replay consumers came back. EXEC never held it: the
 * publisher did a core publish plus flush, which "succeeds" while no stream stores the message (the
 * stream had no leader yet), so nothing was left to replay (§7). publishCommand must resolve only
 * with EXEC's PubAck. A single real nats-server stands in for the leaderless window by having no
 * EXEC at all: the same "nothing stores `commands.>`" the failover produced.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { STREAM_EXEC, subjects } from '../../contract/index.js';
import { bootstrapBackendResources } from '../../devtools/dev-broker/bootstrap.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil } from '../harness/poll.js';

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker?.stop();
});

// Every test leaves EXEC as the backend creates it.
afterEach(async () => {
  await bootstrapBackendResources(broker.nc);
});

/** The bytes EXEC holds for `subject`, or undefined. */
const storedBody = async (subject: string): Promise<string | undefined> => {
  const msg = await broker.jsm.streams.getMessage(STREAM_EXEC, { last_by_subj: subject }).catch(() => null);
  return msg === null ? undefined : new TextDecoder().decode(msg.data);
};

describe('publishCommand', () => {
  it('resolves with the PubAck of EXEC, which holds the command for replay', async () => {
    const body = commandBytes(draftCommand({ shell: 'sh', script: 'true' }));
    const ack = await publishCommand(broker.nc, subjects.commandsPc('PUB-STORED'), body);
    expect(ack.stream).toBe(STREAM_EXEC);
    expect(await storedBody(subjects.commandsPc('PUB-STORED'))).toBe(new TextDecoder().decode(body));
  });

  it('while nothing stores commands.> (live agents already have it) it keeps trying and resolves once EXEC stored it', async () => {
    await broker.jsm.streams.delete(STREAM_EXEC);
    const subject = subjects.commandsAll;
    const body = commandBytes(draftCommand({ shell: 'sh', script: 'echo during-failover' }));
    const live: string[] = [];
    const sub = broker.nc.subscribe(subject, {
      callback: (_err, msg) => {
        live.push(msg.string());
      },
    });
    await broker.nc.flush();
    let settled: 'resolved' | 'rejected' | undefined;
    const published = publishCommand(broker.nc, subject, body, undefined, { deadlineMs: 120_000 }).then(
      (ack) => {
        settled = 'resolved';
        return ack;
      },
      (err: unknown) => {
        settled = 'rejected';
        throw err;
      },
    );
    // A live subscriber (an agent on a surviving node) has it, yet no stream stored it.
    await pollUntil('the live copy of the command', 30_000, () => live.length > 0);
    expect(await storedBody(subject)).toBeUndefined();
    expect(settled).toBeUndefined();
    // EXEC is back (a new leader): the publish is acknowledged and the command waits for replay.
    await bootstrapBackendResources(broker.nc);
    const ack = await published;
    sub.unsubscribe();
    expect(ack.stream).toBe(STREAM_EXEC);
    expect(await storedBody(subject)).toBe(new TextDecoder().decode(body));
    // Every copy a live agent saw is the same bytes: one request_id, a duplicate to the ledger (§7).
    expect(new Set(live)).toEqual(new Set([new TextDecoder().decode(body)]));
  });

  it('rejects, saying so, when EXEC never acknowledges before the deadline', async () => {
    await broker.jsm.streams.delete(STREAM_EXEC);
    const body = commandBytes(draftCommand({ shell: 'sh', script: 'true' }));
    await expect(publishCommand(broker.nc, subjects.commandsPc('PUB-LOST'), body, undefined, { deadlineMs: 1_000 })).rejects.toThrow(
      /not stored in stream EXEC .*agents offline will not/,
    );
  });
});
