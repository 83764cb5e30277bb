/**
 * Every transition of the per-message life cycle (machines/outbox-message-machine.ts) on a
 * SimulatedClock, with recording fakes for the effects.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { OUTBOX_QUARANTINE_AFTER_FAILURES } from '../../contract/index.js';
import { createMessageSlots } from '../../actors/outbox/message-slots.js';
import { bindOutboxMessageEffects, outboxMessageMachine } from '../../machines/outbox-message-machine.js';
import type { OutboxMessageEffects } from '../../actors/outbox/message-runner.js';

const ACK_TIMEOUT_MS = 30_000;
const createOutboxMessageRunner = createMessageSlots(bindOutboxMessageEffects);

function recordingEffects(): { effects: OutboxMessageEffects; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    effects: {
      publish: (name) => calls.push(`publish ${name}`),
      acked: (name) => calls.push(`acked ${name}`),
      remove: (name) => calls.push(`remove ${name}`),
      park: (name, failures, lastError) => calls.push(`park ${name} ${failures} ${lastError}`),
      quarantine: (name, reason) => calls.push(`quarantine ${name} ${reason}`),
      release: (name) => calls.push(`release ${name}`),
    },
  };
}

function start(prior?: { failures: number; lastError: string }) {
  const clock = new SimulatedClock();
  const { effects, calls } = recordingEffects();
  const runner = createOutboxMessageRunner(effects, { ackTimeoutMs: ACK_TIMEOUT_MS, clock });
  const message = runner.start('a.json', prior);
  return { clock, calls, message };
}

describe('outbox message machine', () => {
  it('enqueued → publishing → awaitingAck → acked → deleting → done', () => {
    const { message, calls } = start();
    expect(message.state()).toBe('enqueued');
    message.send({ type: 'publish.start' });
    expect(message.state()).toBe('publishing');
    expect(calls).toEqual(['publish a.json']);
    message.send({ type: 'publish.sent' });
    expect(message.state()).toBe('awaitingAck');
    message.send({ type: 'ack.received', latencyMs: 3 });
    expect(message.state()).toBe('deleting');
    expect(calls.slice(1)).toEqual(['acked a.json', 'remove a.json']);
    message.send({ type: 'file.deleted' });
    expect(message.state()).toBe('done');
    expect(calls.at(-1)).toBe('release a.json');
  });

  it("awaitingAck → ackTimedOut → backoff exactly at the ack timeout, on the actor's clock", () => {
    const { message, calls, clock } = start();
    message.send({ type: 'publish.start' });
    message.send({ type: 'publish.sent' });
    clock.increment(ACK_TIMEOUT_MS - 1);
    expect(message.state()).toBe('awaitingAck');
    clock.increment(1);
    expect(message.state()).toBe('backoff');
    expect(calls.at(-1)).toBe(`park a.json 1 no PubAck within ${ACK_TIMEOUT_MS} ms`);
  });

  it('an ack before the timeout cancels it; a slot reused for the next file starts a fresh one', () => {
    const { message, calls, clock } = start();
    message.send({ type: 'publish.start' });
    message.send({ type: 'publish.sent' });
    clock.increment(ACK_TIMEOUT_MS - 1);
    message.send({ type: 'ack.received', latencyMs: 1 });
    clock.increment(ACK_TIMEOUT_MS);
    expect(message.state()).toBe('deleting');
    message.send({ type: 'file.deleted' });
    message.stop(); // resting in done: the slot takes the next file
    expect(calls.filter((c) => c.startsWith('park'))).toEqual([]);
  });

  it('a slot stopped mid-flight (pause, shutdown) leaves no ack timer behind', () => {
    const { message, calls, clock } = start();
    message.send({ type: 'publish.start' });
    message.send({ type: 'publish.sent' });
    message.stop();
    clock.increment(ACK_TIMEOUT_MS * 2);
    expect(calls).toEqual(['publish a.json']);
  });

  it('a slot is reused for the next file once its message is done, and a new runner slot otherwise', () => {
    const clock = new SimulatedClock();
    const { effects, calls } = recordingEffects();
    const runner = createOutboxMessageRunner(effects, { ackTimeoutMs: ACK_TIMEOUT_MS, clock });
    const first = runner.start('a.json');
    first.send({ type: 'publish.start' });
    first.send({ type: 'message.vanished' });
    first.stop(); // resting in done: back to the free list
    const second = runner.start('b.json');
    expect(second.state()).toBe('enqueued');
    second.send({ type: 'publish.start' });
    expect(calls).toEqual(['publish a.json', 'release a.json', 'publish b.json']);
    // The reused slot is the same actor: the first handle now sees b's state.
    expect(first.state()).toBe('publishing');
    const third = runner.start('c.json'); // b is busy: a fresh slot
    expect(third.state()).toBe('enqueued');
  });

  it('publishing → publishFailed → backoff, and awaitingAck → publishFailed → backoff', () => {
    const first = start();
    first.message.send({ type: 'publish.start' });
    first.message.send({ type: 'publish.failed', error: 'offload: store missing' });
    expect(first.message.state()).toBe('backoff');
    expect(first.calls.at(-1)).toBe('park a.json 1 offload: store missing');

    const second = start();
    second.message.send({ type: 'publish.start' });
    second.message.send({ type: 'publish.sent' });
    second.message.send({ type: 'publish.failed', error: 'no responders' });
    expect(second.message.state()).toBe('backoff');
    expect(second.calls.at(-1)).toBe('park a.json 1 no responders');
  });

  it('backoff → publishing when the pool says the file is due, keeping the failure streak', () => {
    const { message, calls } = start({ failures: 3, lastError: 'timeout' });
    expect(message.state()).toBe('backoff');
    expect(calls).toEqual([]); // restored in backoff: not parked twice
    message.send({ type: 'backoff.elapsed' });
    expect(message.state()).toBe('publishing');
    message.send({ type: 'publish.failed', error: 'again' });
    expect(calls.at(-1)).toBe('park a.json 4 again');
  });

  it('quarantines on the 10th failure in a row (ack timeout, publish failure or delete failure)', () => {
    const prior = { failures: OUTBOX_QUARANTINE_AFTER_FAILURES - 1, lastError: 'x' };
    const byTimeout = start(prior);
    byTimeout.message.send({ type: 'backoff.elapsed' });
    byTimeout.message.send({ type: 'publish.sent' });
    byTimeout.clock.increment(ACK_TIMEOUT_MS);
    expect(byTimeout.message.state()).toBe('quarantined');
    expect(byTimeout.calls.at(-1)).toBe(`quarantine a.json failed 10 times in a row; last error: no PubAck within ${ACK_TIMEOUT_MS} ms`);

    const byFailure = start(prior);
    byFailure.message.send({ type: 'backoff.elapsed' });
    byFailure.message.send({ type: 'publish.failed', error: 'boom' });
    expect(byFailure.message.state()).toBe('quarantined');

    const byDelete = start(prior);
    byDelete.message.send({ type: 'backoff.elapsed' });
    byDelete.message.send({ type: 'publish.sent' });
    byDelete.message.send({ type: 'ack.received', latencyMs: 1 });
    byDelete.message.send({ type: 'delete.failed', error: 'EPERM' });
    expect(byDelete.message.state()).toBe('quarantined');
    expect(byDelete.calls.at(-1)).toBe('quarantine a.json failed 10 times in a row; last error: EPERM');
  });

  it('15 "no responders" (resource unavailable) attempts in a row never quarantine; they only lengthen the backoff', () => {
    const clock = new SimulatedClock();
    const parks: Array<{ failures: number; waits: number; lastError: string }> = [];
    const quarantines: string[] = [];
    const machine = outboxMessageMachine.provide({
      actions: {
        parkMessage: ({ context }) => parks.push({ failures: context.failures, waits: context.waits, lastError: context.lastError }),
        quarantineFile: ({ context }) => quarantines.push(context.quarantineReason),
      },
    });
    const actor = createActor(machine, { input: { name: 'a.json', ackTimeoutMs: ACK_TIMEOUT_MS }, clock }).start();
    actor.send({ type: 'publish.start' });
    for (let attempt = 1; attempt <= 15; attempt += 1) {
      if (attempt % 2 === 0) actor.send({ type: 'publish.sent' }); // rejected before or after the send
      actor.send({ type: 'publish.unavailable', error: "no responders: 'results.r1'" });
      expect(actor.getSnapshot().value).toBe('backoff');
      clock.increment(300_000);
      actor.send({ type: 'backoff.elapsed' });
      expect(actor.getSnapshot().value).toBe('publishing');
    }
    expect(quarantines).toEqual([]);
    expect(parks).toHaveLength(15);
    expect(parks.at(-1)).toEqual({ failures: 0, waits: 15, lastError: "no responders: 'results.r1'" });
    // Real failures still count on their own: 10 of them quarantine, however many waits came first.
    for (let failure = 1; failure < OUTBOX_QUARANTINE_AFTER_FAILURES; failure += 1) {
      actor.send({ type: 'publish.failed', error: 'boom' });
      actor.send({ type: 'backoff.elapsed' });
    }
    expect(quarantines).toEqual([]);
    actor.send({ type: 'publish.sent' });
    clock.increment(ACK_TIMEOUT_MS);
    expect(actor.getSnapshot().value).toBe('quarantined');
    expect(quarantines).toEqual([`failed 10 times in a row; last error: no PubAck within ${ACK_TIMEOUT_MS} ms`]);
  });

  it('a slot assigned a file with only prior waits resumes it in backoff', () => {
    const { effects, calls } = recordingEffects();
    const runner = createOutboxMessageRunner(effects, { ackTimeoutMs: ACK_TIMEOUT_MS, clock: new SimulatedClock() });
    const message = runner.start('a.json', { failures: 0, lastError: 'no responders', waits: 4 });
    expect(message.state()).toBe('backoff');
    message.send({ type: 'backoff.elapsed' });
    message.send({ type: 'publish.unavailable', error: 'stream not found' });
    expect(calls.at(-1)).toBe('park a.json 0 stream not found');
  });

  it('nine failures are not enough to quarantine', () => {
    const { message } = start({ failures: OUTBOX_QUARANTINE_AFTER_FAILURES - 2, lastError: 'x' });
    message.send({ type: 'backoff.elapsed' });
    message.send({ type: 'publish.failed', error: 'boom' });
    expect(message.state()).toBe('backoff');
  });

  it('deleting → deleteFailed → backoff (a file that cannot be removed is retried, never dropped)', () => {
    const { message, calls } = start();
    message.send({ type: 'publish.start' });
    message.send({ type: 'publish.sent' });
    message.send({ type: 'ack.received', latencyMs: 1 });
    message.send({ type: 'delete.failed', error: 'EBUSY' });
    expect(message.state()).toBe('backoff');
    expect(calls.at(-1)).toBe('park a.json 1 EBUSY');
  });

  it('publishing → quarantined for an unreadable file, with the reason', () => {
    const { message, calls } = start();
    message.send({ type: 'publish.start' });
    message.send({ type: 'message.unreadable', reason: 'empty file' });
    expect(message.state()).toBe('quarantined');
    expect(calls.at(-1)).toBe('quarantine a.json empty file');
  });

  it('publishing → done when the file vanished', () => {
    const { message, calls } = start();
    message.send({ type: 'publish.start' });
    message.send({ type: 'message.vanished' });
    expect(message.state()).toBe('done');
    expect(calls.at(-1)).toBe('release a.json');
  });

  it('the default machine runs with no effects provided and has the tags status uses', () => {
    const actor = createActor(outboxMessageMachine, { input: { name: 'b.json' } }).start();
    actor.send({ type: 'message.assigned', name: 'b.json', failures: 0, lastError: '' });
    actor.send({ type: 'publish.start' });
    expect(actor.getSnapshot().hasTag('busy')).toBe(true);
    actor.send({ type: 'publish.failed', error: 'x' });
    expect(actor.getSnapshot().hasTag('degraded')).toBe(true);
    expect(actor.getSnapshot().context.failures).toBe(1);
  });
});

describe('message slots', () => {
  it('provide the machine once and hand a resting slot to the next pass with that pass’s effects', () => {
    let provided = 0;
    const factory = createMessageSlots((effectsOf) => {
      provided += 1;
      return bindOutboxMessageEffects(effectsOf);
    });
    const clock = new SimulatedClock();
    const deliver = (runner: ReturnType<typeof factory>, name: string) => {
      const message = runner.start(name);
      message.send({ type: 'publish.start' });
      message.send({ type: 'publish.sent' });
      message.send({ type: 'ack.received', latencyMs: 1 });
      message.send({ type: 'file.deleted' });
      expect(message.state()).toBe('done');
      message.stop();
      return message;
    };
    const first = recordingEffects();
    const old = deliver(factory(first.effects, { ackTimeoutMs: ACK_TIMEOUT_MS, clock }), 'a.json');
    const second = recordingEffects();
    deliver(factory(second.effects, { ackTimeoutMs: ACK_TIMEOUT_MS, clock }), 'b.json');
    expect(provided).toBe(1);
    expect(first.calls).toEqual(['publish a.json', 'acked a.json', 'remove a.json', 'release a.json']);
    expect(second.calls).toEqual(['publish b.json', 'acked b.json', 'remove b.json', 'release b.json']);
    // A handle the first pass let go of no longer reaches the slot, now given a third message.
    const third = recordingEffects();
    const waiting = factory(third.effects, { ackTimeoutMs: ACK_TIMEOUT_MS, clock }).start('c.json');
    expect(waiting.state()).toBe('enqueued');
    old.send({ type: 'publish.start' });
    expect(waiting.state()).toBe('enqueued');
    expect([...first.calls, ...second.calls, ...third.calls]).toHaveLength(8);
  });
});
