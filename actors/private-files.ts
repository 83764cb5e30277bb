/**
 * Private files (issue #13): the data dir is 0700 and every file the agent writes in it (ledger,
 * outboxes, script cache, last-exit) and its log files are 0600, since they hold script bodies,
 * results and output. At start, modes looser than that are tightened, with one log line.
 * Windows has no mode bits (ACLs are the Windows installer's job; see docs/security.md), so there
 * the functions do nothing.
 *
 * @example
 * await ensurePrivateDir('/var/lib/kanade');           // created 0700, or chmod'ed to 0700
 * await tightenPrivateTree('/var/lib/kanade', log);     // 0644 files → 0600, one log line
 */
import { chmod, lstat, mkdir, opendir } from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import type { Logger } from 'pino';
import type { Failpoints } from './failpoints.js';
import { restrictDirAcl, type RestrictOptions } from './windows-acl.js';

/** Mode of every directory the agent creates for its own data. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file the agent writes. */
export const PRIVATE_FILE_MODE = 0o600;
/** The tighten log line lists at most this many paths (the count covers all). */
const LOGGED_PATHS_MAX = 20;

const POSIX = process.platform !== 'win32';

/** Failpoint hit before the background walk (spec/process: the agent heartbeats while it hangs). */
export const PRIVATE_WALK_FAILPOINT = 'private.walk';

/** `mkdir -p` with 0700 for what it creates; the leaf itself is chmod'ed to 0700 when looser. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (!POSIX) return;
  const st = await lstat(dir);
  if (st.isDirectory() && (st.mode & 0o077) !== 0) await chmod(dir, PRIVATE_DIR_MODE);
}

/** What {@link tightenPrivateTree} changed. */
export interface Tightened {
  readonly count: number;
  readonly paths: readonly string[];
}

/**
 * Walks `root` (symlinks are not followed) and takes group/other bits off every directory (→ 0700)
 * and file (→ 0600); logs one warning naming what was tightened. A missing root is nothing to do;
 * an entry that vanishes or cannot be changed is skipped (the warning counts only real changes).
 */
export async function tightenPrivateTree(root: string, log?: Logger): Promise<Tightened> {
  const changed: string[] = [];
  if (!POSIX) return { count: 0, paths: [] };
  const visit = async (entry: string): Promise<void> => {
    const st = await lstat(entry).catch(() => undefined);
    if (st === undefined || st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      if ((st.mode & 0o077) !== 0 && (await tighten(entry, PRIVATE_DIR_MODE))) changed.push(entry);
      const dir = await opendir(entry).catch(() => undefined);
      if (dir === undefined) return;
      for await (const child of dir) await visit(path.join(entry, child.name));
      return;
    }
    if ((st.isFile() || st.isSocket()) && (st.mode & 0o077) !== 0 && (await tighten(entry, PRIVATE_FILE_MODE))) changed.push(entry);
  };
  await visit(root);
  return report(root, changed, log);
}

/** Tightens the regular files of `dir` whose names pass `match` (the daily log files) to 0600. */
export async function tightenFilesIn(dir: string, match: (name: string) => boolean, log?: Logger): Promise<Tightened> {
  const changed: string[] = [];
  if (!POSIX) return { count: 0, paths: [] };
  const handle = await opendir(dir).catch(() => undefined);
  if (handle === undefined) return { count: 0, paths: [] };
  for await (const child of handle) {
    if (!match(child.name)) continue;
    const file = path.join(dir, child.name);
    const st = await lstat(file).catch(() => undefined);
    if (st?.isFile() === true && (st.mode & 0o077) !== 0 && (await tighten(file, PRIVATE_FILE_MODE))) changed.push(file);
  }
  return report(dir, changed, log);
}

function tighten(entry: string, mode: number): Promise<boolean> {
  return chmod(entry, mode).then(
    () => true,
    () => false,
  );
}

function report(root: string, changed: string[], log: Logger | undefined): Tightened {
  if (changed.length > 0) {
    log?.warn(
      { dir: root, tightened: changed.length, paths: changed.slice(0, LOGGED_PATHS_MAX) },
      `tightened ${changed.length} file mode(s) under ${root} to 0600/0700 (agent data is private)`,
    );
  }
  return { count: changed.length, paths: changed };
}

/**
 * The start-up step: the data dir exists and is 0700 and this agent's daily log files
 * (`<stem>.*<ext>` next to `[log] path`; other files there are left) are 0600 (both awaited), then
 * everything under the data dir is tightened. The walk under the data dir is one `lstat` per entry — seconds on a
 * 100,000-result outbox backlog — so it runs in the background (`walked`) and never delays the
 * tree's start (issue #15, start → first heartbeat): once the data dir itself is 0700 no other user
 * can reach anything below it, so the inner modes are defence in depth, not the barrier.
 * On Windows (no mode bits) the data dir and `windowsDirs` (the script staging root) are created and
 * get an explicit ACL instead: SYSTEM and Administrators only, inherited below (actors/windows-acl.ts).
 * Never throws: a failure is one error line and the agent goes on (the writers report their own).
 */
export async function securePrivateFiles(
  dataDir: string,
  logPath: string | undefined,
  log: Logger,
  windowsDirs: readonly string[] = [],
  acl: RestrictOptions = {},
  failpoints?: Pick<Failpoints, 'hit'>,
): Promise<{ readonly walked: Promise<void> }> {
  if ((acl.platform ?? process.platform) === 'win32') {
    for (const dir of [dataDir, ...windowsDirs]) {
      const made = await mkdir(dir, { recursive: true }).then(
        () => undefined,
        (err: unknown) => (err as Error).message,
      );
      if (made !== undefined) log.error({ dir, err: made }, `cannot create ${dir}`);
      else await restrictDirAcl(dir, log, acl);
    }
  }
  const failed = (err: unknown): void => {
    log.error({ dir: dataDir, err: (err as Error).message }, 'cannot make the data dir private (0700)');
  };
  try {
    await ensurePrivateDir(dataDir);
  } catch (err) {
    failed(err);
    return { walked: Promise.resolve() };
  }
  // The log files are outside the data dir (its 0700 does not cover them): tightened before the
  // tree starts, one listing of the log directory.
  if (logPath !== undefined) {
    const ext = path.extname(logPath);
    const stem = path.basename(logPath, ext);
    await tightenFilesIn(path.dirname(logPath), (name) => name.startsWith(`${stem}.`) && name.endsWith(ext), log).catch((err: unknown) => {
      log.error({ dir: path.dirname(logPath), err: (err as Error).message }, 'cannot make the log files private (0600)');
    });
  }
  const walk = async (): Promise<void> => {
    // Tests: `private.walk=hang` proves the tree starts (and heartbeats) while the walk is not done.
    await failpoints?.hit(PRIVATE_WALK_FAILPOINT);
    await tightenPrivateTree(dataDir, log);
  };
  return { walked: walk().catch(failed) };
}

/**
 * Why a file or directory the agent trusts (the keyring and its directory §6.2, the control
 * socket's directory) cannot be trusted (our choice): not owned by the agent's
 * user, or writable by group/other. Windows has no mode bits (ACLs: docs/windows.md).
 */
export function untrusted(
  st: Pick<Stats, 'uid' | 'mode'>,
  what: string,
  platform: NodeJS.Platform = process.platform,
  uid: number | undefined = process.getuid?.(),
): string | undefined {
  if (platform === 'win32' || uid === undefined) return undefined;
  if (st.uid !== uid) return `${what} is owned by uid ${st.uid}, not by the agent's user (uid ${uid})`;
  if ((st.mode & 0o022) !== 0) return `${what} is writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`;
  return undefined;
}
