/**
 * §10 step 4, the swap, shared by the update (staged release → `<exe>`) and the boot rollback
 * (last-good copy → `<exe>`):
 *
 * 1. copy the source to `<exe>.new` (0755, fsync);
 * 2. keep the running executable as `<exe>.old` — a hard link on Unix (a copy where links are
 *    refused), so `<exe>` itself never goes missing; a rename on Windows (a running .exe can be
 *    renamed but not replaced);
 * 3. rename `<exe>.new` over `<exe>` (atomic on Unix), fsync the directory;
 * 4. record (`last_swap.json`, tmp → fsync → rename).
 *
 * Any failure undoes what was done (`.new` removed, `<exe>.old` renamed back when `<exe>` was
 * already replaced or moved) and reports the reason. A SIGKILL between any two steps leaves a
 * complete executable at `<exe>` on Unix (old before step 3, new after); the next start deletes
 * `.new`/`.old`. On Windows the moment between steps 2 and 3 has no `<exe>` (docs/updater.md).
 *
 * Failpoints (tests): `updater.swap.new_written`, `updater.swap.old_kept`, `updater.swap.replaced`,
 * `updater.swap.recorded`.
 */
import { linkSync, renameSync, rmSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fromPromise } from 'xstate';
import type { Failpoints } from '../failpoints.js';
import { copyDurable, copyDurableSync, writeLastSwapSync } from './install-state.js';
import { syncDirectorySync } from '../durable-fs.js';
import { EXECUTABLE_MODE, stagedPath, swapPaths } from './updater-files.js';
import type { ReleaseJob, StepOutcome } from './updater-types.js';

const IS_WINDOWS = process.platform === 'win32';

/** Failpoint names, in swap order. */
export const SWAP_FAILPOINTS = [
  'updater.swap.new_written',
  'updater.swap.old_kept',
  'updater.swap.replaced',
  'updater.swap.recorded',
] as const;

function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // best effort: the next start deletes stale .new/.old again
  }
}

/** Step 2: `<exe>.old` — a hard link (or copy) on Unix, a rename on Windows. */
function keepOld(exe: string, old: string): void {
  removeQuietly(old);
  if (IS_WINDOWS) {
    renameSync(exe, old);
    return;
  }
  try {
    linkSync(exe, old);
  } catch {
    copyDurableSync(exe, old, EXECUTABLE_MODE);
  }
}

/**
 * Steps 2–4 once `<exe>.new` is written: keeps `.old`, renames `.new` over `<exe>`, runs `record`.
 * Throws after undoing when any step fails.
 */
export function commitSwapSync(exe: string, failpoints: Failpoints, record: () => void): void {
  const { next, old } = swapPaths(exe);
  const dir = path.dirname(exe);
  let oldKept = false;
  let replaced = false;
  try {
    keepOld(exe, old);
    oldKept = true;
    failpoints.hitSync(SWAP_FAILPOINTS[1]);
    renameSync(next, exe);
    replaced = true;
    syncDirectorySync(dir);
    failpoints.hitSync(SWAP_FAILPOINTS[2]);
    record();
    failpoints.hitSync(SWAP_FAILPOINTS[3]);
  } catch (error) {
    if (replaced || (IS_WINDOWS && oldKept)) {
      // <exe> holds the new bytes (or is gone on Windows): the kept old one goes back.
      try {
        renameSync(old, exe);
        syncDirectorySync(dir);
      } catch (undoError) {
        throw new Error(
          `${(error as Error).message}; undo failed too (${(undoError as Error).message}): restore ${old} to ${exe} by hand`,
          { cause: undoError },
        );
      }
    } else if (oldKept) {
      removeQuietly(old);
    }
    removeQuietly(next);
    throw error;
  }
}

/** Options of {@link replaceExecutable}. */
export interface ReplaceOptions {
  readonly exe: string;
  readonly source: string;
  readonly failpoints: Failpoints;
  /** Step 4; runs after the rename, a failure undoes the swap. */
  readonly record: () => void;
  /** Aborted before the commit: `.new` is removed and nothing changes. */
  readonly signal?: AbortSignal;
}

/** The whole swap of `source` into `exe`; resolves `{ok:false, reason}` after undoing on failure. */
export async function replaceExecutable(opts: ReplaceOptions): Promise<StepOutcome> {
  const { next } = swapPaths(opts.exe);
  try {
    await rm(next, { force: true });
    await copyDurable(opts.source, next, EXECUTABLE_MODE);
    opts.failpoints.hitSync(SWAP_FAILPOINTS[0]);
    if (opts.signal?.aborted === true) {
      await rm(next, { force: true });
      return { ok: false, reason: 'cancelled before the swap' };
    }
    commitSwapSync(opts.exe, opts.failpoints, opts.record);
    return { ok: true };
  } catch (error) {
    await rm(next, { force: true }).catch(() => undefined);
    return { ok: false, reason: `swap failed and was undone: ${(error as Error).message}` };
  }
}

/** Synchronous whole swap (the boot rollback runs before anything else); throws after undoing. */
export function replaceExecutableSync(opts: Omit<ReplaceOptions, 'signal'>): void {
  const { next } = swapPaths(opts.exe);
  removeQuietly(next);
  try {
    copyDurableSync(opts.source, next, EXECUTABLE_MODE);
    opts.failpoints.hitSync(SWAP_FAILPOINTS[0]);
  } catch (error) {
    removeQuietly(next);
    throw error;
  }
  commitSwapSync(opts.exe, opts.failpoints, opts.record);
}

/** The `swapExecutable` effect: the verified staged release replaces the running executable. */
export const swapExecutable = fromPromise<StepOutcome, ReleaseJob>(async ({ input, signal }) => {
  const { ports, target, runningVersion } = input;
  if (ports.exe === null) return { ok: false, reason: 'not a single executable' };
  const staged = stagedPath(ports.dataDir, ports.exe.stem, target);
  try {
    await stat(staged);
  } catch (error) {
    return { ok: false, reason: `staged release missing: ${(error as Error).message}` };
  }
  const outcome = await replaceExecutable({
    exe: ports.exe.path,
    source: staged,
    failpoints: ports.failpoints,
    signal,
    // Written inside the commit, so a failure to record it undoes the swap.
    record: () => writeLastSwapSync(ports.dataDir, { target, running_before: runningVersion }),
  });
  if (outcome.ok) await rm(staged, { force: true }).catch(() => undefined);
  return outcome;
});
