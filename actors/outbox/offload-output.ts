/**
 * Big output offload (contract §8.5): at drain time, `stdout`/`stderr` over 256 KiB of UTF-8 go to
 * object store `result_output` under `<request_id>/<pc_id>/stdout|stderr`; the inline field is
 * emptied and `<stream>_object` names the key. Never overwrite: a key holding the same SHA-256 is
 * reused; a different body takes the first free (or identical) `.r1`, `.r2` … The outbox file keeps
 * the full text, so a retry repeats this and lands on the same key.
 *
 * @example
 * const published = await offloadLargeOutput(result, await openResultOutput(nc));
 * if (published !== undefined) payload = encodeExecResult(published);
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import { OBJ_RESULT_OUTPUT, resultOutputKey, STDOUT_INLINE_THRESHOLD_BYTES, type ExecResult } from '../../contract/index.js';

/** The part of a nats.js ObjectStore the offload uses (tests may fake it). */
export type OutputObjectStore = Pick<ObjectStore, 'info' | 'putBlob'>;

/** Highest `.rN` revision tried before the offload gives up (a retry will try again). */
export const MAX_OUTPUT_REVISIONS = 1_000;

const DIGEST_PREFIX = 'SHA-256=';

/** True when `text` is over the inline threshold in UTF-8 bytes (cheap for short strings). */
export function exceedsInlineThreshold(text: string, thresholdBytes: number = STDOUT_INLINE_THRESHOLD_BYTES): boolean {
  // A UTF-16 unit is 1–3 UTF-8 bytes (a surrogate pair 4 for 2 units): short strings need no count.
  if (text.length * 3 <= thresholdBytes) return false;
  if (text.length > thresholdBytes) return true;
  return Buffer.byteLength(text, 'utf8') > thresholdBytes;
}

/** Decodes an object store digest (`SHA-256=` + base64url, padded or not) to raw bytes. */
export function digestBytes(digest: string): Buffer | undefined {
  if (!digest.startsWith(DIGEST_PREFIX)) return undefined;
  return Buffer.from(digest.slice(DIGEST_PREFIX.length).replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** Puts `bytes` at the first key of `keys(0)`, `keys(1)`… that is free or already holds the same bytes. */
async function storeOnce(store: OutputObjectStore, key: (revision: number) => string, bytes: Uint8Array): Promise<string> {
  const sha = createHash('sha256').update(bytes).digest();
  for (let revision = 0; revision <= MAX_OUTPUT_REVISIONS; revision += 1) {
    const name = key(revision);
    const info: ObjectInfo | null = await store.info(name);
    if (info === null || info.deleted) {
      await store.putBlob({ name }, bytes);
      return name;
    }
    const existing = digestBytes(info.digest);
    if (existing !== undefined && existing.equals(sha)) return name;
  }
  throw new Error(`result_output: ${key(0)} and ${MAX_OUTPUT_REVISIONS} revisions are all taken by other bodies`);
}

/**
 * Returns the result to publish with large streams offloaded, or `undefined` when nothing is over
 * the threshold (publish the file as it is).
 */
export async function offloadLargeOutput(
  result: ExecResult,
  store: OutputObjectStore,
  thresholdBytes: number = STDOUT_INLINE_THRESHOLD_BYTES,
): Promise<ExecResult | undefined> {
  let out: ExecResult | undefined;
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = result[stream];
    if (!exceedsInlineThreshold(text, thresholdBytes)) continue;
    const bytes = Buffer.from(text, 'utf8');
    const key = await storeOnce(store, (revision) => resultOutputKey(result.request_id, result.pc_id, stream, revision), bytes);
    out = { ...(out ?? result), [stream]: '', [`${stream}_object`]: key };
  }
  return out;
}

/**
 * Opens `result_output` on `nc` without the existence check: that check is a
 * `$JS.API.STREAM.INFO.OBJ_result_output` call the agent role (contract §3) does not need. A
 * missing store shows up on the first `info`/`putBlob` as stream-not-found, which the drain treats
 * as "resource unavailable" and retries without counting toward quarantine.
 */
export function openResultOutput(nc: NatsConnection): Promise<ObjectStore> {
  return new Objm(nc).open(OBJ_RESULT_OUTPUT, false);
}
