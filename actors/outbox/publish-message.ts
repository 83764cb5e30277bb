/**
 * Publishing one outbox message: its bytes (read ahead by the pass, or read now), the decode, the
 * subject from the payload (never from the file name), the prepare step (results: big output to
 * the object store), the publish and the wait for its PubAck. Each outcome is reported to the
 * message's life cycle as an event; nothing throws. The PubAck timeout is the life cycle's own
 * (machines/outbox-message-machine.ts); the client's request timeout runs
 * {@link ACK_CLIENT_GRACE_MS} longer so the machine decides.
 *
 * @example
 * const outcome = await publishMessage({ name, prefetched, closed: () => false, report: (e) => handle.send(e), sent: () => {} }, deps);
 * if (outcome === 'lateAck') await store.remove(name); // acked after the pass let go of it
 */
import { describeDecodeError } from '../../contract/index.js';
import { describeIrregular } from '../regular-file.js';
import type { OutboxMessageEvent } from './message-runner.js';
import type { OutboxKindSpec } from './outbox-kinds.js';
import { describeError, errorCode, type PrefetchedFile } from './outbox-store.js';
import { isResourceUnavailable } from './publish-errors.js';

/** The client's own request timeout runs this much past the machine's ack timeout, so the machine decides. */
export const ACK_CLIENT_GRACE_MS = 1_000;

/** Publishes `payload` on `subject` and resolves on the PubAck (rejects on error or timeout). */
export type PublishFn = (subject: string, payload: Uint8Array, timeoutMs: number) => Promise<void>;
/** Turns a decoded message and its file bytes into the bytes to publish (results: offload big output). */
export type PrepareFn<T> = (message: T, fileBytes: Uint8Array) => Promise<Uint8Array>;

/** One attempt, as the pass sees it. */
export interface PublishAttempt {
  readonly name: string;
  /** Read ahead by the pass (first attempt only; a retry reads the file again). */
  readonly prefetched: PrefetchedFile | undefined;
  /** True once the pass let go of the message (parked after a timeout, paused, stopped). */
  closed(): boolean;
  /** Sends an event to the message's life cycle. */
  report(event: OutboxMessageEvent): void;
  /** The message is handed to the client at `at` (pass clock), just before the publish call. */
  sent(at: number): void;
}

/** What {@link publishMessage} needs. */
export interface PublishDeps<T> {
  readonly spec: OutboxKindSpec<T>;
  /** Reads a file that was not read ahead. */
  read(name: string): Promise<Buffer>;
  readonly publish: PublishFn;
  readonly prepare: PrepareFn<T> | undefined;
  readonly ackTimeoutMs: number;
  /** The pass clock (ms). */
  now(): number;
}

/**
 * How an attempt ended: `reported` (its life cycle got the outcome, or the pass had let go before
 * the publish), or `lateAck` (the stream took it after the pass let go: the file may be deleted).
 */
export type PublishOutcome = 'reported' | 'lateAck';

/** See the module comment. */
export async function publishMessage<T>(attempt: PublishAttempt, deps: PublishDeps<T>): Promise<PublishOutcome> {
  const report = (event: OutboxMessageEvent): PublishOutcome => {
    if (!attempt.closed()) attempt.report(event);
    return 'reported';
  };
  const failed = (err: unknown, prefix = ''): PublishOutcome =>
    report({ type: isResourceUnavailable(err) ? 'publish.unavailable' : 'publish.failed', error: `${prefix}${describeError(err)}` });

  const read = await readBytes(attempt, deps);
  if ('event' in read) return report(read.event);
  const bytes = read.bytes;
  if (bytes.length === 0) return report({ type: 'message.unreadable', reason: 'empty file' });
  const decoded = deps.spec.decode(bytes);
  if (!decoded.ok) {
    return report({ type: 'message.unreadable', reason: `not a valid ${deps.spec.kind} message: ${describeDecodeError(decoded.error)}` });
  }
  let payload: Uint8Array = bytes;
  let subject: string;
  try {
    subject = deps.spec.subject(decoded.value);
    if (deps.prepare !== undefined) payload = await deps.prepare(decoded.value, bytes);
  } catch (err) {
    return failed(err, 'offload: ');
  }
  if (attempt.closed()) return 'reported';
  let ack: Promise<void>;
  const sentAt = deps.now();
  try {
    attempt.sent(sentAt);
    ack = deps.publish(subject, payload, deps.ackTimeoutMs + ACK_CLIENT_GRACE_MS);
  } catch (err) {
    return failed(err);
  }
  report({ type: 'publish.sent' });
  try {
    await ack;
  } catch (err) {
    return failed(err);
  }
  // A PubAck after the life cycle gave up (ack timeout, pause): the stream has the message.
  if (attempt.closed()) return 'lateAck';
  return report({ type: 'ack.received', latencyMs: deps.now() - sentAt });
}

/** The file's bytes, or the event that says why there are none. */
async function readBytes<T>(attempt: PublishAttempt, deps: PublishDeps<T>): Promise<{ bytes: Buffer } | { event: OutboxMessageEvent }> {
  const prefetched = attempt.prefetched;
  let failure: { code: string; error: unknown };
  if (prefetched?.bytes !== undefined) return { bytes: prefetched.bytes };
  if (prefetched?.errorCode !== undefined) failure = { code: prefetched.errorCode, error: prefetched.error ?? prefetched.errorCode };
  else {
    try {
      return { bytes: await deps.read(attempt.name) };
    } catch (err) {
      failure = { code: errorCode(err), error: err };
    }
  }
  if (failure.code === 'ENOENT') return { event: { type: 'message.vanished' } };
  if (failure.code === 'EISDIR' || failure.code === 'ENOTREG') {
    const kind =
      prefetched?.kind ??
      (failure.error as { kind?: Parameters<typeof describeIrregular>[0] }).kind ??
      (failure.code === 'EISDIR' ? 'directory' : 'unknown');
    return { event: { type: 'message.unreadable', reason: describeIrregular(kind) } };
  }
  return { event: { type: 'publish.failed', error: `read: ${describeError(failure.error)}` } };
}
