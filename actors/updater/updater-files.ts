/**
 * The updater's files under `<data_dir>` and next to the executable, and the durable writes they
 * need (tmp → fsync → rename → fsync of the directory; 0600 files, 0700 directories). The boot
 * sentinel runs before anything else in `run`, so every helper has a synchronous form.
 *
 * | file | what |
 * |---|---|
 * | `staging/<exe-stem>.<V>.staged` | a downloaded release, verified before the swap |
 * | `last_swap.json` | `{"target","running_before"}` of the last swap (§10, loop guard) |
 * | `boot_sentinel.json` | `{"version","unconfirmed_boots"}`: boots not yet confirmed healthy |
 * | `quarantine.json` | `{"versions":[…]}`: versions rolled back after failing to boot |
 * | `last_good/<exe-name>` + `last_good/last_good.json` | the last version confirmed healthy, for rollback |
 * | `<exe>.new`, `<exe>.old` | swap intermediates next to the executable, deleted at the next start |
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { syncDirectorySync, writeFileAtomic } from '../durable-fs.js';

export const STAGING_DIR = 'staging';
export const LAST_SWAP_FILE = 'last_swap.json';
export const BOOT_SENTINEL_FILE = 'boot_sentinel.json';
export const QUARANTINE_FILE = 'quarantine.json';
export const LAST_GOOD_DIR = 'last_good';
export const LAST_GOOD_META_FILE = 'last_good.json';

/** Mode of the files the updater writes (the executable copies get 0755 / 0700 where they run). */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of the installed executable on Unix (§10). */
export const EXECUTABLE_MODE = 0o755;

/** `staging/<exe-stem>.<version>.staged` under the data dir. */
export function stagedPath(dataDir: string, exeStem: string, version: string): string {
  return path.join(dataDir, STAGING_DIR, `${exeStem}.${version}.staged`);
}

/** `<exe>.new` and `<exe>.old`. */
export function swapPaths(exe: string): { readonly next: string; readonly old: string } {
  return { next: `${exe}.new`, old: `${exe}.old` };
}

/** Writes `data` to `file` durably: `<file>.tmp` (0600) → fsync → rename → fsync of the directory. */
export async function writeDurable(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  await writeFileAtomic(file, data, { syncDir: true, mode: PRIVATE_FILE_MODE });
}

/** Synchronous {@link writeDurable}. */
export function writeDurableSync(file: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDirectorySync(path.dirname(file));
}
