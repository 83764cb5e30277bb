/**
 * Reading files the agent finds by walking a directory, without ever opening something that is
 * not a regular file (issue #17.3): a FIFO named `x.json` blocks a plain `open` for reading until
 * a writer appears (forever), a device can have side effects on open, and a symlink can point
 * anywhere. The type is checked first (the directory entry's `d_type`, else `lstat`), and the open
 * itself uses `O_NONBLOCK | O_NOFOLLOW` with an `fstat` check, so a file swapped for one of those
 * between the check and the open is refused too instead of blocking.
 *
 * @example
 * const bytes = await readRegularFile('/var/lib/kanade/admission/r1.json'); // NotRegularFileError on a FIFO
 */
import { constants as fsConstants, type Dirent, type Stats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';

/** What a directory entry is, as `lstat` (never `stat`) sees it. */
export type FileKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'character device' | 'block device' | 'unknown';

/**
 * Flags for opening a file found by a directory walk: read-only, never blocking on a FIFO, never
 * following a symlink. Windows has neither flag (0): there the type check before the open is the guard.
 */
export const SAFE_READ_FLAGS: number = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0) | (fsConstants.O_NOFOLLOW ?? 0);

/** A path that is not a regular file; `code` is `ENOTREG` (or `EISDIR` for a directory). */
export class NotRegularFileError extends Error {
  readonly code: string;
  constructor(
    readonly file: string,
    readonly kind: FileKind,
  ) {
    super(`${file}: ${describeIrregular(kind)}`);
    this.name = 'NotRegularFileError';
    this.code = kind === 'directory' ? 'EISDIR' : 'ENOTREG';
  }
}

/** The kind of a `Dirent` or `lstat` result (`unknown` when the file system did not say). */
export function fileKind(entry: Dirent | Stats): FileKind {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'directory';
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isFIFO()) return 'fifo';
  if (entry.isSocket()) return 'socket';
  if (entry.isCharacterDevice()) return 'character device';
  if (entry.isBlockDevice()) return 'block device';
  return 'unknown';
}

const IRREGULAR_TEXT: Readonly<Record<FileKind, string>> = {
  file: 'a regular file',
  directory: 'a directory, not a message file',
  symlink: 'a symbolic link, not a regular file (never followed)',
  fifo: 'a FIFO (named pipe), not a regular file (never opened)',
  socket: 'a socket, not a regular file (never opened)',
  'character device': 'a character device, not a regular file (never opened)',
  'block device': 'a block device, not a regular file (never opened)',
  unknown: 'not a regular file (unknown type; never opened)',
};

/** The quarantine / log reason for an entry of `kind` that is not a regular file. */
export function describeIrregular(kind: FileKind): string {
  return IRREGULAR_TEXT[kind];
}

/**
 * Reads `file` if, and only if, it is a regular file: `lstat` first, then an open with
 * {@link SAFE_READ_FLAGS} and an `fstat` of the open descriptor. Rejects with
 * {@link NotRegularFileError} for anything else (an `ELOOP` from `O_NOFOLLOW` means a symlink
 * appeared after the check), and with the fs error otherwise (ENOENT: gone).
 */
export async function readRegularFile(file: string): Promise<Buffer> {
  const before = await lstat(file);
  if (!before.isFile()) throw new NotRegularFileError(file, fileKind(before));
  let handle;
  try {
    handle = await open(file, SAFE_READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new NotRegularFileError(file, 'symlink');
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new NotRegularFileError(file, fileKind(st));
    return await handle.readFile();
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** {@link readRegularFile} as UTF-8 text. */
export async function readRegularText(file: string): Promise<string> {
  return (await readRegularFile(file)).toString('utf8');
}
