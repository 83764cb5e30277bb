/**
 * Publishes `HwInventory` on `inventory.<pc_id>.hw` (contract §3, §5.5): a core publish captured by
 * stream INVENTORY, then a flush so a dead connection shows up as a failure to retry. The server
 * answers a publish its permissions refuse with an asynchronous `-ERR` that arrives before the
 * flush's PONG; such a refusal is reported as `refused` (logged only, not retried: the backend's
 * `agent` role may lack `inventory.*.*`, §3).
 */
import { PermissionViolationError, type Status } from '@nats-io/transport-node';
import { fromPromise } from 'xstate';
import { encodeHwInventory, subjects, type HwInventory } from '../../contract/index.js';
import type { BrokerPort } from '../ports.js';

/** Longest wait for the server's answer to the flush. */
export const INVENTORY_FLUSH_TIMEOUT_MS = 10_000;

/** Input of {@link publishHw}. */
export interface PublishHwInput {
  /** The broker hub: the publish goes out on its current connection (the machine holds none). */
  readonly broker: BrokerPort;
  readonly hw: HwInventory;
}

/** Outcome of a confirmed publish: `refused` when the server's permissions rejected the subject. */
export interface PublishHwOutput {
  readonly bytes: number;
  readonly refused: boolean;
}

/** True when `status` is the server refusing a publish on `subject`. */
export function isPublishRefusal(status: Status, subject: string): boolean {
  if (status.type !== 'error') return false;
  const error = status.error;
  return error instanceof PermissionViolationError && error.operation === 'publish' && error.subject === subject;
}

/** Publishes and flushes; rejects when the connection cannot confirm (the machine retries). */
export const publishHw = fromPromise<PublishHwOutput, PublishHwInput>(async ({ input }) => {
  const { hw } = input;
  const broker = input.broker.state();
  if (!broker.connected) throw new Error('broker not connected');
  const nc = broker.nc;
  const subject = subjects.inventoryHw(hw.pc_id);
  const body = encodeHwInventory(hw);
  let refused = false;
  // nats.js returns a QueuedIterator; `stop()` unregisters it from the connection at once.
  const statuses = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  const watch = (async () => {
    for await (const status of statuses) if (isPublishRefusal(status, subject)) refused = true;
  })().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    nc.publish(subject, body);
    await Promise.race([
      nc.flush(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`flush not confirmed within ${INVENTORY_FLUSH_TIMEOUT_MS} ms`)),
          INVENTORY_FLUSH_TIMEOUT_MS,
        );
      }),
    ]);
    // Let the status iterator deliver an -ERR that was read together with the PONG.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    clearTimeout(timer);
    statuses.stop?.();
  }
  await watch;
  return { bytes: Buffer.byteLength(body), refused };
});
