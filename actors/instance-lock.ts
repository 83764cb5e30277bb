/**
 * One agent per data dir: `<data_dir>/agent.lock` holds the owner's pid, created with O_EXCL before
 * any child starts (issue #14: a second `run` started all eight children against the shared
 * directory before noticing the control socket was taken). A lock whose pid is no longer a running
 * kanade-agent (killed with SIGKILL, power loss) is stale and taken over.
 *
 * @example
 * const lock = await acquireInstanceLock(config.dataDir); // throws InstanceLockedError
 * // … run …
 * await lock.release();
 */
import { readFileSync } from 'node:fs';
import { link, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { mkdirpSync } from './mkdirp.js';

/** File name under the data dir. */
export const LOCK_FILE = 'agent.lock';
const LOCK_MODE = 0o600;
const DATA_DIR_MODE = 0o700;
/** Attempts to replace a stale lock before giving up (another starter may race us). */
const TAKEOVER_ATTEMPTS = 3;

/** Another live agent owns the data dir. */
export class InstanceLockedError extends Error {
  constructor(
    readonly lockPath: string,
    readonly pid: number,
  ) {
    super(
      `another kanade-agent (pid ${pid}) is already running with this data dir (${lockPath}); stop it first, or give this one another [agent] data_dir`,
    );
    this.name = 'InstanceLockedError';
  }
}

/** A held lock. */
export interface InstanceLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. */
  release(): Promise<void>;
}

/** Whether `pid` is a live process that looks like a kanade-agent (Linux: its command line says so). */
export function isLiveAgent(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but another user's process — still a live owner.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('kanade-agent');
  } catch {
    return true; // no /proc (macOS, Windows): trust the pid
  }
}

async function readOwner(lockPath: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(lockPath, 'utf8')).trim(), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the data dir's lock; throws {@link InstanceLockedError}, or the fs error (EROFS, EACCES…). */
export async function acquireInstanceLock(dataDir: string): Promise<InstanceLock> {
  mkdirpSync(dataDir, DATA_DIR_MODE);
  const lockPath = path.join(dataDir, LOCK_FILE);
  // The pid is written to a private temp file first and hard-linked into place, so the lock never
  // exists without its owner's pid (a reader never sees a half-written lock and calls it stale).
  const tmp = `${lockPath}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', LOCK_MODE);
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    for (let attempt = 0; attempt < TAKEOVER_ATTEMPTS; attempt += 1) {
      try {
        await link(tmp, lockPath);
        return {
          path: lockPath,
          async release() {
            if ((await readOwner(lockPath)) === process.pid) await unlink(lockPath).catch(() => undefined);
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = await readOwner(lockPath);
      if (owner !== undefined && owner !== process.pid && isLiveAgent(owner)) throw new InstanceLockedError(lockPath, owner);
      // Stale (dead owner or unreadable): remove it and try again.
      await unlink(lockPath).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const owner = await readOwner(lockPath);
  throw new InstanceLockedError(lockPath, owner ?? 0);
}
