/**
 * Uploads a checked release into the `agent_releases` object store under each file's key (what
 * `kanade agent publish` does), then checks the stored size and digest against the file's. An
 * object already holding the same bytes is left alone.
 *
 * @example
 * const results = await publishRelease(nc, release.entries);
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { OBJ_AGENT_RELEASES } from '../../contract/index.js';
import type { ReleaseEntry } from './release-dir.js';

/** The object store's digest form: `SHA-256=` + padded base64url of the raw hash. */
export function objectDigest(sha256Hex: string): string {
  const b64 = Buffer.from(sha256Hex, 'hex').toString('base64url');
  return `SHA-256=${b64}${'='.repeat((4 - (b64.length % 4)) % 4)}`;
}

/** What happened to one file. */
export interface PublishedFile {
  readonly key: string;
  readonly size: number;
  readonly digest: string;
  readonly action: 'uploaded' | 'unchanged';
}

/** Uploads `entries`; throws when the store is missing or a stored object does not match. */
export async function publishRelease(nc: NatsConnection, entries: readonly ReleaseEntry[]): Promise<PublishedFile[]> {
  let store;
  try {
    store = await new Objm(nc).open(OBJ_AGENT_RELEASES);
  } catch (error) {
    throw new Error(`object store ${OBJ_AGENT_RELEASES} is not available (the kanade backend creates it): ${(error as Error).message}`, { cause: error });
  }
  const published: PublishedFile[] = [];
  for (const entry of entries) {
    const digest = objectDigest(entry.sha256);
    const existing = await store.info(entry.key);
    if (existing && !existing.deleted && existing.size === entry.size && existing.digest === digest) {
      published.push({ key: entry.key, size: entry.size, digest, action: 'unchanged' });
      continue;
    }
    const body = Readable.toWeb(createReadStream(entry.path)) as ReadableStream<Uint8Array>;
    const info = await store.put({ name: entry.key, description: entry.file }, body);
    if (info.size !== entry.size || info.digest !== digest) {
      throw new Error(`${entry.key}: stored ${info.size} bytes ${info.digest}, expected ${entry.size} bytes ${digest}`);
    }
    published.push({ key: entry.key, size: entry.size, digest, action: 'uploaded' });
  }
  return published;
}
