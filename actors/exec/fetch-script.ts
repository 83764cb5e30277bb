/**
 * `script_object` source (§8.3): the object from store `scripts` (≤ 4 MiB), checked against the
 * command's lowercase-hex SHA-256 even when served from `<data_dir>/script_cache/<sha256>`.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Objm } from '@nats-io/obj';
import { MAX_SCRIPT_OBJECT_BYTES, OBJ_SCRIPTS } from '../../contract/index.js';
import type { BrokerPort } from '../ports.js';
import { writeFileAtomic } from '../durable-fs.js';

/** The script text, or why it could not be had (the reason goes into `script_object <key>: <reason>`). */
export type ScriptFetch = { readonly ok: true; readonly script: string } | { readonly ok: false; readonly reason: string };

/** Fetches (or reads from cache) and verifies a `script_object`. Never rejects. */
export async function fetchScriptObject(key: string, sha256: string, dataDir: string, broker: BrokerPort): Promise<ScriptFetch> {
  const cacheDir = path.join(dataDir, 'script_cache');
  const cacheFile = path.join(cacheDir, sha256);
  const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  try {
    const cached = await readFile(cacheFile);
    // A cache file can rot or be tampered with; it is trusted only when it still matches.
    if (digest(cached) === sha256) return { ok: true, script: cached.toString('utf8') };
  } catch {
    // Not cached.
  }
  const state = broker.state();
  if (!state.connected) return { ok: false, reason: 'not cached and the broker is not connected' };
  let bytes: Uint8Array;
  try {
    const store = await new Objm(state.nc).open(OBJ_SCRIPTS);
    const info = await store.info(key);
    if (info === null || info.deleted) return { ok: false, reason: 'object not found in store scripts' };
    if (info.size > MAX_SCRIPT_OBJECT_BYTES)
      return { ok: false, reason: `object is ${info.size} bytes, over the ${MAX_SCRIPT_OBJECT_BYTES}-byte limit` };
    const blob = await store.getBlob(key);
    if (blob === null) return { ok: false, reason: 'object not found in store scripts' };
    bytes = blob;
  } catch (err) {
    return { ok: false, reason: `fetch failed: ${(err as Error).message}` };
  }
  if (bytes.length > MAX_SCRIPT_OBJECT_BYTES)
    return { ok: false, reason: `object is ${bytes.length} bytes, over the ${MAX_SCRIPT_OBJECT_BYTES}-byte limit` };
  const actual = digest(bytes);
  if (actual !== sha256) return { ok: false, reason: `SHA-256 mismatch (expected ${sha256}, got ${actual})` };
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(cacheFile, bytes);
  } catch {
    // The cache is an optimisation; the verified bytes are used anyway.
  }
  return { ok: true, script: Buffer.from(bytes).toString('utf8') };
}
