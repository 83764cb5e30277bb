/**
 * `<data_dir>/last-exit.json`: why the previous agent process ended. `run` writes it on exit;
 * `status` reads it when the control socket is gone, to tell "gave up" (3) from "not running" (2).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** File name under the data dir. */
export const LAST_EXIT_FILE = 'last-exit.json';

/** What the file holds. */
export interface LastExit {
  /** `exit_requested`: a child asked for the exit code (the updater after a swap: 64). */
  readonly reason: 'shutdown' | 'gave_up' | 'crashed' | 'exit_requested';
  readonly detail: string | null;
  /** RFC 3339. */
  readonly at: string;
  readonly pid: number;
  readonly exit_code: number;
}

/** Writes `<data_dir>/last-exit.json` (creating the data dir). */
export async function writeLastExit(dataDir: string, lastExit: LastExit): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(path.join(dataDir, LAST_EXIT_FILE), `${JSON.stringify(lastExit)}\n`, { mode: 0o600 });
}

/** Reads it; null when absent or unreadable. */
export async function readLastExit(dataDir: string): Promise<LastExit | null> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, LAST_EXIT_FILE), 'utf8')) as LastExit;
  } catch {
    return null;
  }
}
