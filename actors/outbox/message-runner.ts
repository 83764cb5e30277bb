/**
 * The seam between the drain pass (actors/, does the I/O) and the per-message life cycle
 * (machines/outbox-message-machine.ts, says when): the pass hands the machine a set of effects and
 * gets back one handle per message. Types only, so neither side imports the other's code.
 */

/** Events of the per-message life cycle; the pool sends them when an effect finishes. */
export type OutboxMessageEvent =
  | {
      readonly type: 'message.assigned';
      readonly name: string;
      readonly failures: number;
      readonly lastError: string;
      /** Earlier attempts that found the stream/store missing (they lengthen the backoff only). */
      readonly waits?: number;
    }
  | { readonly type: 'publish.start' }
  | { readonly type: 'message.vanished' }
  | { readonly type: 'message.unreadable'; readonly reason: string }
  | { readonly type: 'publish.sent' }
  | { readonly type: 'publish.failed'; readonly error: string }
  /** The stream/store does not exist yet or JetStream is not answering: back off, not a failure. */
  | { readonly type: 'publish.unavailable'; readonly error: string }
  | { readonly type: 'ack.received'; readonly latencyMs: number }
  | { readonly type: 'backoff.elapsed' }
  | { readonly type: 'file.deleted' }
  | { readonly type: 'delete.failed'; readonly error: string };

/** What a message's state asks the pool to do; each call returns at once and reports back later. */
export interface OutboxMessageEffects {
  /** Read, decode, offload and publish the file; report `publish.sent`, then `ack.received` or `publish.failed`. */
  publish(name: string): void;
  /** Acked: note the latency for status. */
  acked(name: string): void;
  /** Delete the delivered file; report `file.deleted` or `delete.failed`. */
  remove(name: string): void;
  /**
   * Failed or found its resource missing: remember failures, waits (resource-unavailable attempts,
   * never counted toward quarantine) and due time, and let the message go until it is due.
   */
  park(name: string, failures: number, lastError: string, waits: number): void;
  /** Move the file to `stuck/` with `reason`. */
  quarantine(name: string, reason: string): void;
  /** Done: the message left the outbox. */
  release(name: string): void;
}

/** One running message life cycle. */
export interface OutboxMessageHandle {
  send(event: OutboxMessageEvent): void;
  /** The pool is done with this file: the slot is reused when resting, discarded otherwise. */
  stop(): void;
  /** The current state name (for status and tests). */
  state(): string;
}

/** Failures carried over from an earlier attempt of the same file (the in-memory backoff). */
export interface PriorFailures {
  readonly failures: number;
  readonly lastError: string;
  /** Attempts that found the stream/store missing (backoff only). */
  readonly waits?: number;
}

/** Starts message life cycles bound to one pool's effects. */
export interface OutboxMessageRunner {
  /** Assigns the file to a (reused or new) slot: fresh → `enqueued`; prior failures or waits → `backoff`. */
  start(name: string, prior?: PriorFailures): OutboxMessageHandle;
}

/** Timer source of xstate actors (a SimulatedClock in tests): the message machine's ack timeout runs on it. */
export interface TimerClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Builds a runner; supplied by machines/outbox-message-machine.ts. */
export type OutboxMessageRunnerFactory = (
  effects: OutboxMessageEffects,
  options: { readonly ackTimeoutMs: number; readonly clock?: TimerClock },
) => OutboxMessageRunner;
