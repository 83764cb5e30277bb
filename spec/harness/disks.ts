/**
 * Full and read-only directories for process tests (issue #14). As root they are real tmpfs mounts
 * (a 64 KiB volume filled to the last byte, a volume mounted read-only); otherwise the same errors
 * come from a file linked to /dev/full (ENOSPC on every write) and a directory without write
 * permission (EACCES). `release()` always unmounts and removes what was made.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** A directory whose writes fail. */
export interface BadDir {
  readonly path: string;
  /** Makes writing work again (frees the space / makes it writable). */
  heal(): void;
  /** Unmounts and removes everything. */
  release(): void;
}

function mountTmpfs(dir: string, options: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'kanade-test', dir]);
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    // not mounted (any more)
  }
}

/**
 * A log directory on a full disk. `fileName` is the daily log file the agent will write (for the
 * non-root stand-in, which links exactly that name to /dev/full).
 */
export function fullDir(fileName: string): BadDir {
  const base = mkdtempSync(join(tmpdir(), 'kanade-full-'));
  const dir = join(base, 'logs');
  mkdirSync(dir);
  if (IS_ROOT) {
    mountTmpfs(dir, 'size=64k,mode=0700');
    const filler = join(dir, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(256 * 1024));
    } catch {
      // ENOSPC: the volume is full now, which is the point
    }
    return {
      path: dir,
      heal: () => unlinkSync(filler),
      release: () => {
        unmount(dir);
        rmSync(base, { recursive: true, force: true });
      },
    };
  }
  symlinkSync('/dev/full', join(dir, fileName));
  return {
    path: dir,
    heal: () => unlinkSync(join(dir, fileName)),
    release: () => rmSync(base, { recursive: true, force: true }),
  };
}

/** A read-only directory (EROFS as root, EACCES otherwise). */
export function readOnlyDir(): BadDir {
  const base = mkdtempSync(join(tmpdir(), 'kanade-ro-'));
  const dir = join(base, 'ro');
  mkdirSync(dir);
  if (IS_ROOT) {
    mountTmpfs(dir, 'size=64k,ro');
    return {
      path: dir,
      heal: () => execFileSync('mount', ['-o', 'remount,rw', dir]),
      release: () => {
        unmount(dir);
        rmSync(base, { recursive: true, force: true });
      },
    };
  }
  chmodSync(dir, 0o555);
  return {
    path: dir,
    heal: () => chmodSync(dir, 0o755),
    release: () => {
      chmodSync(dir, 0o755);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
