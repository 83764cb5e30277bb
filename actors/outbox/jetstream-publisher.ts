/**
 * The default effects of a drain pass on a live connection: a JetStream publish that resolves on
 * the PubAck (no `Nats-Msg-Id`: contract §1 de-duplicates by payload ids), and for results the big
 * output offload to `result_output` (§8.5).
 *
 * @example
 * const publish = createJetStreamPublish(nc, failpoints);
 * await publish('results.r1', bytes, 31_000);
 */
import { jetstream } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeExecResult, STDOUT_INLINE_THRESHOLD_BYTES, type ExecResult } from '../../contract/index.js';
import type { Failpoints } from '../failpoints.js';
import { offloadLargeOutput, openResultOutput } from './offload-output.js';
import type { PrepareFn, PublishFn } from './publish-message.js';

/** Failpoint hit before every outbox publish (`KANADE_FAILPOINTS=outbox.publish=hang`). */
export const OUTBOX_PUBLISH_FAILPOINT = 'outbox.publish';

/** A publish on `nc`'s JetStream context that resolves when the stream acknowledged the message. */
export function createJetStreamPublish(nc: NatsConnection, failpoints?: Failpoints): PublishFn {
  const js = jetstream(nc);
  return async (subject, payload, timeoutMs) => {
    if (failpoints !== undefined && failpoints.armed.size > 0) await failpoints.hit(OUTBOX_PUBLISH_FAILPOINT);
    await js.publish(subject, payload, { timeout: timeoutMs });
  };
}

/**
 * Results only: offloads stdout/stderr over 256 KiB and returns the bytes to publish. Offloads of
 * one `request_id` run one at a time, so two results never race for the same free `.rN` key.
 */
export function createResultPrepare(nc: NatsConnection): PrepareFn<ExecResult> {
  let store: Promise<ObjectStore> | undefined;
  const locks = new Map<string, Promise<unknown>>();
  return async (result, fileBytes) => {
    // The common case costs two string length checks and no I/O.
    if (result.stdout.length * 3 <= STDOUT_INLINE_THRESHOLD_BYTES && result.stderr.length * 3 <= STDOUT_INLINE_THRESHOLD_BYTES)
      return fileBytes;
    const previous = locks.get(result.request_id) ?? Promise.resolve();
    const run = previous
      .catch(() => undefined)
      .then(async () => {
        store ??= openResultOutput(nc);
        try {
          return await offloadLargeOutput(result, await store);
        } catch (err) {
          store = undefined; // re-open next time (the store may have been created meanwhile)
          throw err;
        }
      });
    locks.set(result.request_id, run);
    try {
      const offloaded = await run;
      return offloaded === undefined ? fileBytes : Buffer.from(encodeExecResult(offloaded), 'utf8');
    } finally {
      if (locks.get(result.request_id) === run) locks.delete(result.request_id);
    }
  };
}
