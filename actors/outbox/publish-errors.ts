/**
 * Which publish and offload errors mean "the target resource is not there yet" (contract §4: a
 * feature retries until its resource exists) rather than "this message failed". Checked against
 * nats.js 3.4 and nats-server 2.9.10: a publish to a subject no stream captures fails with
 * `JetStreamNotEnabled` caused by a `RequestError` caused by `NoRespondersError` (503); object store
 * calls on a missing `OBJ_result_output` fail with `StreamNotFoundError` (API error 10059).
 * A request timeout (no answer at all) is not in this set: it still counts as a failure.
 */
import { NoRespondersError } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';

/** How deep the `cause` chain is followed (nats.js wraps at most two levels today). */
const MAX_CAUSE_DEPTH = 5;

/** True when `err` (or an error it wraps) says the stream/store or JetStream itself is not answering. */
export function isResourceUnavailable(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current instanceof Error; depth += 1) {
    // JetStreamNotEnabled is not exported by @nats-io/jetstream's public entry: matched by name.
    if (current instanceof NoRespondersError || current.name === 'JetStreamNotEnabled') return true;
    if (current instanceof JetStreamApiError && current.code === JetStreamApiCodes.StreamNotFound) return true;
    // Objm.open(name) with its existence check on (not used by the agent, kept for safety).
    if (current.message === 'object store not found') return true;
    current = current.cause;
  }
  return false;
}
