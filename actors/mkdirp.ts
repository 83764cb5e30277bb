/**
 * `mkdir -p` whose error names the real cause. Node's recursive mkdir reports ENOENT when a parent
 * cannot be created on a read-only volume (issue #14: "ENOENT … mkdir '…/outbox'" for a read-only
 * data dir); this retries the first missing component on its own so the error says EROFS or EACCES.
 *
 * @example
 * mkdirpSync('/var/lib/kanade/outbox', 0o700); // throws EROFS, not ENOENT, on a read-only volume
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** Creates `dir` and its parents with `mode`; throws the first component's own error. */
export function mkdirpSync(dir: string, mode: number): void {
  try {
    mkdirSync(dir, { recursive: true, mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    let missing = path.resolve(dir);
    while (!existsSync(path.dirname(missing)) && path.dirname(missing) !== missing) missing = path.dirname(missing);
    mkdirSync(missing, { mode }); // throws the real reason (EROFS, EACCES, ENOTDIR)
    throw error;
  }
}
