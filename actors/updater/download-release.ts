/**
 * The `downloadRelease` effect (§10 step 3): streams the platform key of the target from
 * `agent_releases` to `<data_dir>/staging/<exe-stem>.<V>.staged` (0700, fsync), refusing to start
 * when less than {@link FREE_SPACE_FACTOR}× the object's size is free there. Sends
 * `download.progressed` (about every MiB), then `download.finished` or `download.failed` with a kind
 * the machine understands (`absent`/`unavailable` are waits, not failures). Stopping the actor (a
 * target change, shutdown) cancels the transfer and removes the partial file.
 */
import { mkdir, open, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Objm } from '@nats-io/obj';
import { fromCallback, type EventObject } from 'xstate';
import { OBJ_AGENT_RELEASES, agentReleaseKey } from '../../contract/index.js';
import { isResourceUnavailable } from '../outbox/publish-errors.js';
import { PRIVATE_DIR_MODE, stagedPath } from './updater-files.js';
import type { DownloadEvent, DownloadFailureKind, ReleaseJob } from './updater-types.js';

/** Free space required in `staging/`, as a multiple of the release size (staged file, `.new`, last-good copy). */
export const FREE_SPACE_FACTOR = 3;
/** A transfer that delivers nothing for this long is abandoned (a failure, retried with backoff). */
export const DOWNLOAD_STALL_MS = 60_000;
/** Progress is reported about this often. */
export const PROGRESS_STEP_BYTES = 1024 * 1024;

type Failed = Extract<DownloadEvent, { type: 'download.failed' }>;

const failed = (kind: DownloadFailureKind, reason: string): Failed => ({ type: 'download.failed', kind, reason });

/** Free bytes for an unprivileged writer in `dir`. */
async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** The download; resolves with the final event, never rejects. */
export async function downloadToStaging(
  job: ReleaseJob,
  signal: AbortSignal,
  progress: (event: Extract<DownloadEvent, { type: 'download.progressed' }>) => void,
): Promise<Exclude<DownloadEvent, { type: 'download.progressed' }>> {
  const { ports, target } = job;
  if (ports.exe === null) return failed('error', 'not a single executable');
  const key = agentReleaseKey(target, ports.platform, ports.arch);
  if (key === undefined) return failed('error', `no agent_releases key for ${ports.platform}-${ports.arch}`);
  const state = ports.broker.state();
  if (!state.connected) return failed('unavailable', 'the broker is not connected');
  const file = stagedPath(ports.dataDir, ports.exe.stem, target);
  try {
    await ports.failpoints.hit('updater.download');
    const store = await new Objm(state.nc).open(OBJ_AGENT_RELEASES);
    const info = await store.info(key);
    if (info === null || info.deleted) return failed('absent', `object ${key} is not in ${OBJ_AGENT_RELEASES}`);
    if (info.options?.link !== undefined) return failed('error', `object ${key} is a link; refused`);
    await mkdir(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
    const free = await freeBytes(path.dirname(file));
    if (free < FREE_SPACE_FACTOR * info.size) {
      return failed('error', `not enough free space in ${path.dirname(file)}: ${free} bytes, need ${FREE_SPACE_FACTOR} × ${info.size}`);
    }
    if (signal.aborted) return failed('error', 'cancelled');
    const result = await store.get(key);
    if (result === null) return failed('absent', `object ${key} is not in ${OBJ_AGENT_RELEASES}`);
    // The store also reports the transfer's end on `result.error`. After a cancel (a target change
    // mid-download) its feeder can still push a buffered chunk into the closed stream; that TypeError
    // rejects `result.error`, and unobserved it was an unhandled rejection that took the agent down
    // (exit 1). Every failure that matters also reaches the stream's reader below.
    result.error.catch(() => undefined);
    const bytes = await streamToFile(result.data, file, info.size, signal, (done) =>
      progress({ type: 'download.progressed', bytes: done, total: info.size }),
    );
    ports.log.info({ child: 'updater', key, bytes, file }, `downloaded ${key} (${bytes} bytes)`);
    return { type: 'download.finished', bytes, digest: info.digest };
  } catch (error) {
    await rm(file, { force: true }).catch(() => undefined);
    const message = (error as Error).message;
    if (signal.aborted) return failed('error', 'cancelled');
    if (/digests do not match/.test(message)) return failed('digest_mismatch', `SHA-256 of ${key} does not match the object digest`);
    if (/unknown digest type|unable to parse digest/.test(message))
      return failed('digest_mismatch', `object ${key} has no usable SHA-256 digest (${message})`);
    if (isResourceUnavailable(error)) return failed('absent', `store ${OBJ_AGENT_RELEASES} is not available: ${message}`);
    return failed('error', message);
  }
}

/** Writes the stream to `file` (0700) and fsyncs it; rejects (after removing it) on error, abort, stall or overrun. */
async function streamToFile(
  data: ReadableStream<Uint8Array>,
  file: string,
  size: number,
  signal: AbortSignal,
  onProgress: (bytes: number) => void,
): Promise<number> {
  const reader = data.getReader();
  const onAbort = (): void => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  const nextChunk = (): ReturnType<typeof reader.read> =>
    new Promise((resolve, reject) => {
      const stall = setTimeout(() => reject(new Error(`no data for ${DOWNLOAD_STALL_MS / 1000} s`)), DOWNLOAD_STALL_MS);
      reader
        .read()
        .then(resolve, reject)
        .finally(() => clearTimeout(stall));
    });
  const handle = await open(file, 'w', 0o700);
  let written = 0;
  let reported = 0;
  try {
    for (;;) {
      const chunk = await nextChunk();
      if (signal.aborted) throw new Error('cancelled');
      if (chunk.done) break;
      written += chunk.value.length;
      if (written > size) throw new Error(`object is larger than its recorded size ${size}`);
      await handle.write(chunk.value);
      if (written - reported >= PROGRESS_STEP_BYTES) {
        reported = written;
        onProgress(written);
      }
    }
    if (written !== size) throw new Error(`received ${written} bytes, the object records ${size}`);
    await handle.sync();
    return written;
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    await handle.close().catch(() => undefined);
    await rm(file, { force: true }).catch(() => undefined);
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await handle.close().catch(() => undefined);
  }
}

/** The `downloadRelease` effect. */
export const downloadRelease = fromCallback<EventObject, ReleaseJob>(({ input, sendBack }) => {
  const controller = new AbortController();
  void downloadToStaging(input, controller.signal, (event) => {
    if (!controller.signal.aborted) sendBack(event);
  }).then((event) => {
    if (!controller.signal.aborted) sendBack(event);
  });
  return () => controller.abort();
});
