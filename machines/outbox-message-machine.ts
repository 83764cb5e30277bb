/**
 * The life cycle of one outbox message (contract §9): enqueued → publishing → awaitingAck →
 * acked → deleting → done, or ackTimedOut / publishFailed → backoff → publishing, or quarantined
 * after 10 failures in a row or when the file cannot be a message at all. A publish that finds its
 * stream/store missing or JetStream not answering (`publish.unavailable`, contract §4 "retries until
 * its resource exists") goes resourceUnavailable → backoff: it lengthens the backoff (cap 300 s)
 * but is never counted toward quarantine, so results survive a backend that is not set up yet (§9).
 *
 * The machine only says when; the drain pass (actors/outbox/drain-pass.ts) does the I/O through
 * the provided actions and reports back with events. It is built for 20,000-file drains: no invoked
 * actors (invoke-per-step plus an `after` cost ~60 µs a message against ~22 µs, measured,
 * docs/outbox.md), and one actor is a *slot* reused for file after file (`done` →
 * `message.assigned` → `enqueued`, actors/outbox/message-slots.ts), so a drain creates at most
 * window + deletes actors. The PubAck timeout is this machine's decision: a delayed transition out
 * of `awaitingAck` on the actor's clock (the drain child's, a SimulatedClock in tests); its cost
 * on a reused slot is measured in docs/PERFORMANCE.md (outbox drain). Backoff is waited out by the
 * pass (the file is parked and re-listed when due, §9 "checked before reading"), so a thousand
 * failing files hold no timers or actors.
 *
 * @example
 * const runner = createMessageSlots(bindOutboxMessageEffects)(effects, { ackTimeoutMs: 30_000 });
 * const message = runner.start('8d7c….json'); // a slot assigned to this file, in `enqueued`
 * message.send({ type: 'publish.start' });
 */
import { assign, setup, type AnyActorRef } from 'xstate';
import { OUTBOX_QUARANTINE_AFTER_FAILURES, PUB_ACK_TIMEOUT_MS } from '../contract/index.js';
import type { OutboxMessageEffects, OutboxMessageEvent } from '../actors/outbox/message-runner.js';

/** Context of one message: its file and its failure streak. No payload bytes live here. */
export interface OutboxMessageContext {
  readonly name: string;
  /** Consecutive failures of this file (kept in memory across attempts by the pool). */
  readonly failures: number;
  readonly lastError: string;
  /** Attempts that found the stream/store missing: they lengthen the backoff, never quarantine. */
  readonly waits: number;
  readonly ackTimeoutMs: number;
  /** Why the file is quarantined, once it is. */
  readonly quarantineReason: string;
}

/** Input of {@link outboxMessageMachine}. */
export interface OutboxMessageInput {
  readonly name: string;
  readonly ackTimeoutMs?: number;
  readonly failures?: number;
  readonly lastError?: string;
  readonly waits?: number;
}

const noEffect = (): void => undefined;

/** The per-message statechart; default actions do nothing (the pool provides them). */
/** Where every counted failure leads: quarantine after the 10th in a row, else back off (§9). */
const AFTER_FAILURE = [
  { guard: 'failedTooOften', target: 'quarantined', actions: 'noteTooManyFailures' },
  { target: 'backoff', actions: 'parkMessage' },
] as const;

export const outboxMessageMachine = setup({
  types: {
    context: {} as OutboxMessageContext,
    input: {} as OutboxMessageInput,
    events: {} as OutboxMessageEvent,
  },
  actions: {
    publishMessage: noEffect as (args: { context: OutboxMessageContext }) => void,
    recordAck: noEffect as (args: { context: OutboxMessageContext }) => void,
    deleteFile: noEffect as (args: { context: OutboxMessageContext }) => void,
    parkMessage: noEffect as (args: { context: OutboxMessageContext }) => void,
    quarantineFile: noEffect as (args: { context: OutboxMessageContext }) => void,
    releaseMessage: noEffect as (args: { context: OutboxMessageContext }) => void,
    countAckTimeout: assign(({ context }) => ({
      failures: context.failures + 1,
      lastError: `no PubAck within ${context.ackTimeoutMs} ms`,
    })),
    assignMessage: assign(({ event }) =>
      event.type === 'message.assigned'
        ? { name: event.name, failures: event.failures, lastError: event.lastError, waits: event.waits ?? 0, quarantineReason: '' }
        : {},
    ),
    countFailure: assign(({ context, event }) => ({
      failures: context.failures + 1,
      lastError: event.type === 'publish.failed' || event.type === 'delete.failed' ? event.error : 'failed',
    })),
    countWait: assign(({ context, event }) => ({
      waits: context.waits + 1,
      lastError: event.type === 'publish.unavailable' ? event.error : 'resource unavailable',
    })),
    noteUnreadable: assign(({ event }) => ({
      quarantineReason: event.type === 'message.unreadable' ? event.reason : 'unreadable',
    })),
    noteTooManyFailures: assign(({ context }) => ({
      quarantineReason: `failed ${context.failures} times in a row; last error: ${context.lastError}`,
    })),
  },
  delays: {
    ackTimeout: ({ context }) => context.ackTimeoutMs,
  },
  guards: {
    hasPriorFailures: ({ event }) => event.type === 'message.assigned' && (event.failures > 0 || (event.waits ?? 0) > 0),
    failedTooOften: ({ context }) => context.failures >= OUTBOX_QUARANTINE_AFTER_FAILURES,
  },
}).createMachine({
  id: 'outboxMessage',
  context: ({ input }) => ({
    name: input.name,
    failures: input.failures ?? 0,
    lastError: input.lastError ?? '',
    waits: input.waits ?? 0,
    ackTimeoutMs: input.ackTimeoutMs ?? PUB_ACK_TIMEOUT_MS,
    quarantineReason: '',
  }),
  initial: 'enqueued',
  on: {
    'message.assigned': [
      { guard: 'hasPriorFailures', target: '.backoff', actions: 'assignMessage' },
      { target: '.enqueued', actions: 'assignMessage' },
    ],
  },
  states: {
    enqueued: {
      description: 'Listed and due; waiting for a slot in the publish window.',
      on: { 'publish.start': 'publishing' },
    },
    publishing: {
      description: 'Reading the file, offloading big output, handing the message to JetStream.',
      tags: ['busy'],
      entry: 'publishMessage',
      on: {
        'publish.sent': 'awaitingAck',
        'publish.failed': { target: 'publishFailed', actions: 'countFailure' },
        'publish.unavailable': { target: 'resourceUnavailable', actions: 'countWait' },
        'message.unreadable': { target: 'quarantined', actions: 'noteUnreadable' },
        'message.vanished': {
          target: 'done',
          description: 'The file is gone (delivered by an earlier attempt or removed by hand).',
        },
      },
    },
    awaitingAck: {
      description: "Published; waiting for the PubAck, bounded by the ack timeout (30 s) on this actor's clock.",
      tags: ['busy'],
      after: { ackTimeout: { target: 'ackTimedOut', actions: 'countAckTimeout' } },
      on: {
        'ack.received': 'acked',
        'publish.failed': { target: 'publishFailed', actions: 'countFailure' },
        'publish.unavailable': { target: 'resourceUnavailable', actions: 'countWait' },
      },
    },
    ackTimedOut: {
      description: 'No PubAck in time: one more failure for this file.',
      always: AFTER_FAILURE,
    },
    publishFailed: {
      description: 'The publish or the offload failed: one more failure for this file.',
      always: AFTER_FAILURE,
    },
    resourceUnavailable: {
      description:
        'The target stream/store does not exist yet or JetStream gave no responders: wait for it (contract §4) without counting a failure, so the file never reaches stuck/ for this.',
      tags: ['degraded'],
      always: { target: 'backoff', actions: 'parkMessage' },
    },
    backoff: {
      description:
        'Waiting 1, 2, 4 … s (cap 300 s) before the next attempt; the pool parks the file until it is due and the slot takes other files meanwhile.',
      tags: ['degraded'],
      on: { 'backoff.elapsed': 'publishing' },
    },
    acked: {
      description: 'The stream has the message.',
      entry: 'recordAck',
      always: 'deleting',
    },
    deleting: {
      description: 'Removing the delivered file (not fsynced: a lost delete only means a resend).',
      tags: ['busy'],
      entry: 'deleteFile',
      on: {
        'file.deleted': 'done',
        'delete.failed': { target: 'deleteFailed', actions: 'countFailure' },
      },
    },
    deleteFailed: {
      description:
        'Delivered but the file could not be removed: retried like a failed publish (the resend is de-duplicated by the backend).',
      always: AFTER_FAILURE,
    },
    quarantined: {
      description: 'Moved to stuck/ with a .reason sidecar; never deleted. The slot can take another file.',
      tags: ['degraded'],
      entry: 'quarantineFile',
    },
    done: {
      description: 'Delivered and deleted. The slot can take another file (message.assigned).',
      entry: 'releaseMessage',
    },
  },
});

/**
 * The machine with its actions provided: each action asks `effectsOf` for the effects of the actor
 * it runs in (its slot's current pass), so one provided machine serves every pass and slot
 * (actors/outbox/message-slots.ts) instead of a new machine per pass. An actor without effects
 * does nothing (it was let go).
 */
export function bindOutboxMessageEffects(effectsOf: (self: AnyActorRef) => OutboxMessageEffects | undefined) {
  return outboxMessageMachine.provide({
    actions: {
      publishMessage: ({ context, self }) => effectsOf(self)?.publish(context.name),
      recordAck: ({ context, self }) => effectsOf(self)?.acked(context.name),
      deleteFile: ({ context, self }) => effectsOf(self)?.remove(context.name),
      parkMessage: ({ context, self }) => effectsOf(self)?.park(context.name, context.failures, context.lastError, context.waits),
      quarantineFile: ({ context, self }) => effectsOf(self)?.quarantine(context.name, context.quarantineReason),
      releaseMessage: ({ context, self }) => effectsOf(self)?.release(context.name),
    },
  });
}
