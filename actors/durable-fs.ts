/**
 * The one rule for making a rename durable across a power cut: fsync the directory that holds it.
 * Windows refuses to open a directory for fsync (EPERM) and NTFS journals the rename itself, so
 * there the directory sync is skipped. The admission ledger and the outbox both go through here.
 */
import { open } from 'node:fs/promises';

/**
 * Whether `platform` lets a directory be fsynced (everything but Windows).
 *
 * @example canSyncDirectory('win32') // false
 */
export function canSyncDirectory(platform: NodeJS.Platform): boolean {
  return platform !== 'win32';
}

/** fsyncs directory `dir` so renames into it survive a power cut; a no-op where {@link canSyncDirectory} says no. */
export async function syncDirectory(dir: string, platform: NodeJS.Platform = process.platform): Promise<void> {
  if (!canSyncDirectory(platform)) return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
