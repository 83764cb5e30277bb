/**
 * How `status`, `exec` and `kill` find a running `kanade-agent dev` without flags (issue #14: after
 * `npm run dev`, `npx kanade-agent status` failed with "/etc/kanade/agent.toml: config file not
 * found"). `dev` writes `<tmpdir>/kanade-agent-dev-<uid>.json` (0600) with its broker URL and config
 * path and removes it when it stops; readers use it only while its pid is alive, and only when the
 * file is this user's and no one else can write it (it names the broker `exec` sends scripts to).
 * It names the dev broker's token file (0600, in the dev data dir), never the token itself.
 *
 * @example
 * const dev = readDevPointer(); // { pid, pc_id, nats_url, config, token_file } | null
 */
import { closeSync, fstatSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What `dev` records about itself. */
export interface DevPointer {
  readonly pid: number;
  readonly pc_id: string;
  readonly nats_url: string;
  readonly config: string;
  /** The dev broker's token file (`exec`/`kill` read it; the token never reaches argv). */
  readonly token_file: string;
}

/** The pointer file of this user (TMPDIR is honoured). */
export function devPointerPath(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return join(tmpdir(), `kanade-agent-dev-${uid}.json`);
}

/**
 * Records this `dev` process: a fresh 0600 file (created exclusively, so a planted file or symlink is
 * never written through). Returns why it could not, or undefined.
 */
export function writeDevPointer(pointer: DevPointer): string | undefined {
  try {
    rmSync(devPointerPath(), { force: true });
    writeFileSync(devPointerPath(), `${JSON.stringify(pointer)}\n`, { mode: 0o600, flag: 'wx' });
    return undefined;
  } catch (error) {
    return `${devPointerPath()}: ${(error as Error).message}`;
  }
}

/** Removes the pointer if it is ours. */
export function removeDevPointer(pid: number): void {
  if (readDevPointer(false)?.pid === pid) rmSync(devPointerPath(), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running dev's pointer, or null (none, unreadable, or its process is gone). */
export function readDevPointer(requireAlive = true): DevPointer | null {
  try {
    const fd = openSync(devPointerPath(), 'r');
    let text: string;
    try {
      // In a shared tmp dir: another user's (or a group/world-writable) file is not trusted.
      const st = fstatSync(fd);
      const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
      if (!st.isFile() || (uid !== undefined && st.uid !== uid) || (process.platform !== 'win32' && (st.mode & 0o022) !== 0)) return null;
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    const p = JSON.parse(text) as Partial<DevPointer>;
    if (
      typeof p.pid !== 'number' ||
      typeof p.nats_url !== 'string' ||
      typeof p.config !== 'string' ||
      typeof p.pc_id !== 'string' ||
      typeof p.token_file !== 'string'
    )
      return null;
    return !requireAlive || alive(p.pid) ? (p as DevPointer) : null;
  } catch {
    return null;
  }
}
