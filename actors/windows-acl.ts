/**
 * Explicit ACLs for the agent's private directories on Windows (issue #18 item 4): Unix modes do
 * nothing there, so the data dir and the script staging root get SYSTEM and Administrators only,
 * inherited by everything created below them, with the inherited (Users-readable) entries removed.
 * A failure is one error line and the agent goes on (the directory keeps its inherited ACL).
 *
 * @example
 * icaclsArgv('C:\\ProgramData\\Kanade\\data');
 * // ['icacls', 'C:\\ProgramData\\Kanade\\data', '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F']
 * await restrictDirAcl('C:\\ProgramData\\Kanade\\data', log);   // no-op off win32
 */
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

/** Well-known SIDs (language independent, unlike the names "SYSTEM"/"Administrators"). */
export const SID_SYSTEM = 'S-1-5-18';
export const SID_ADMINISTRATORS = 'S-1-5-32-544';
/** icacls is quick; a hung one must not hold the agent's start. */
const ICACLS_TIMEOUT_MS = 30_000;

/** The icacls argv that leaves `dir` to SYSTEM and Administrators (full control, inherited by files and subdirs). */
export function icaclsArgv(dir: string): string[] {
  return ['icacls', dir, '/inheritance:r', '/grant:r', `*${SID_SYSTEM}:(OI)(CI)F`, `*${SID_ADMINISTRATORS}:(OI)(CI)F`];
}

/** Runs argv[0] with argv[1..]; resolves with the failure text, or undefined when it exited 0. */
export type RunArgv = (argv: readonly string[]) => Promise<string | undefined>;

const runIcacls: RunArgv = (argv) =>
  new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { windowsHide: true, timeout: ICACLS_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err === null) return resolve(undefined);
      const text = `${stderr}${stdout}`.trim().slice(0, 500);
      resolve(text === '' ? err.message : `${err.message}: ${text}`);
    });
  });

/** Injectable for tests. */
export interface RestrictOptions {
  readonly platform?: NodeJS.Platform;
  readonly run?: RunArgv;
}

/**
 * On win32, runs {@link icaclsArgv} on `dir`; elsewhere does nothing. Never throws: a failure
 * (no icacls, access denied) is one error line. Resolves true when the ACL was set.
 */
export async function restrictDirAcl(dir: string, log: Logger, opts: RestrictOptions = {}): Promise<boolean> {
  if ((opts.platform ?? process.platform) !== 'win32') return false;
  const argv = icaclsArgv(dir);
  const failure = await (opts.run ?? runIcacls)(argv).catch((err: unknown) => (err as Error).message ?? String(err));
  if (failure === undefined) {
    log.debug({ dir }, 'ACL set: SYSTEM and Administrators only');
    return true;
  }
  log.error({ dir, argv, err: failure }, `cannot restrict the ACL of ${dir} to SYSTEM and Administrators; it keeps its inherited ACL`);
  return false;
}
