/**
 * Finds `kanade-job.exe`, the native launcher that runs each Windows command inside its own Job
 * Object (native/kanade-job.c, contract §8.4). In the release executable (a Node SEA) the launcher
 * is an embedded asset: it is written into `<data_dir>\native\` (private) and its SHA-256 is checked
 * against the asset before every use. In a checkout it is `build/native/kanade-job.exe`, built by
 * scripts/build-native.mjs. Without it, Windows trees are killed with `taskkill /T /F` (logged once).
 *
 * @example
 * const launcher = jobLauncherFor(config.dataDir, log);
 * const file = await launcher(); // 'C:\\ProgramData\\Kanade\\data\\native\\kanade-job-…exe' or undefined
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../durable-fs.js';

/** File name of the launcher, and its SEA asset key (every build/native/*.exe is an asset under its base name). */
export const JOB_LAUNCHER_NAME = 'kanade-job.exe';
/** Exit code of the launcher when it could not start or place the child (`KANADE_JOB_LAUNCH_FAILED` in the C source). */
export const JOB_LAUNCH_FAILED_EXIT = 0x4b4a0001;
/** How many directories above this module a checkout's `build/native/` may be (actors/exec, dist/actors/exec). */
const CHECKOUT_SEARCH_DEPTH = 4;

/** The embedded assets of a SEA, narrowed to what the launcher needs (injectable for tests). */
export interface SeaAssets {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
}

/** Returns the launcher path to use now, or undefined (then the caller kills with taskkill). */
export type JobLauncherSource = () => Promise<string | undefined>;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `build/native/kanade-job.exe` of the checkout holding `moduleUrl`, if built. */
export function checkoutJobLauncher(moduleUrl: string = import.meta.url): string | undefined {
  let dir = path.dirname(fileURLToPath(moduleUrl));
  for (let i = 0; i <= CHECKOUT_SEARCH_DEPTH; i += 1) {
    const candidate = path.join(dir, 'build', 'native', JOB_LAUNCHER_NAME);
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

/**
 * Writes the SEA's launcher bytes to `<dataDir>/native/kanade-job-<sha16>.exe` unless a file with
 * the right SHA-256 is already there; returns its path. The directory is 0700 and the file 0700.
 */
export async function materializeJobLauncher(dataDir: string, bytes: Uint8Array): Promise<{ file: string; sha256: string }> {
  const expected = sha256(bytes);
  const dir = path.join(dataDir, 'native');
  const file = path.join(dir, `kanade-job-${expected.slice(0, 16)}.exe`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700).catch(() => undefined);
  const current = await readFile(file).catch(() => undefined);
  if (current !== undefined && sha256(current) === expected) return { file, sha256: expected };
  await writeFileAtomic(file, bytes, { tmpTag: String(process.pid), mode: 0o700 });
  return { file, sha256: expected };
}

/** Whether `file` still holds exactly the bytes with SHA-256 `expected` (checked before each use). */
export async function launcherIntact(file: string, expected: string): Promise<boolean> {
  const bytes = await readFile(file).catch(() => undefined);
  return bytes !== undefined && sha256(bytes) === expected;
}

const sources = new Map<string, JobLauncherSource>();

/**
 * The launcher source of an agent with data dir `dataDir` (memoized per data dir). `sea` and
 * `platform` are injectable for tests; off Windows it always answers undefined.
 */
export function jobLauncherFor(
  dataDir: string,
  log: Pick<Logger, 'warn' | 'error'>,
  opts: { platform?: NodeJS.Platform; sea?: SeaAssets; checkout?: () => string | undefined } = {},
): JobLauncherSource {
  const platform = opts.platform ?? process.platform;
  if (platform !== 'win32') return () => Promise.resolve(undefined);
  const memo = opts.sea === undefined && opts.checkout === undefined;
  const known = memo ? sources.get(dataDir) : undefined;
  if (known !== undefined) return known;
  let warned = false;
  const fallback = (message: string, error?: unknown): undefined => {
    if (!warned) {
      warned = true;
      log.error({ err: error }, `${message}; Windows process trees are killed with taskkill /T /F instead of a Job Object`);
    }
    return undefined;
  };
  let written: Promise<{ file: string; sha256: string }> | undefined;
  const source: JobLauncherSource = async () => {
    const sea = opts.sea ?? (await loadSea());
    if (sea?.isSea() === true) {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(sea.getAsset(JOB_LAUNCHER_NAME));
      } catch (error) {
        return fallback(`the executable carries no ${JOB_LAUNCHER_NAME} asset`, error);
      }
      written ??= materializeJobLauncher(dataDir, bytes);
      try {
        const { file, sha256: expected } = await written;
        if (await launcherIntact(file, expected)) return file;
        // Changed on disk since it was written: write it again once, then trust nothing.
        written = materializeJobLauncher(dataDir, bytes);
        const again = await written;
        if (await launcherIntact(again.file, again.sha256)) return again.file;
        return fallback(`${again.file} does not match the embedded launcher`);
      } catch (error) {
        written = undefined;
        return fallback(`cannot write ${JOB_LAUNCHER_NAME} into ${dataDir}`, error);
      }
    }
    const file = (opts.checkout ?? checkoutJobLauncher)();
    return file ?? fallback(`${JOB_LAUNCHER_NAME} not found in build/native/ (run node scripts/build-native.mjs)`);
  };
  if (memo) sources.set(dataDir, source);
  return source;
}

async function loadSea(): Promise<SeaAssets | undefined> {
  try {
    return (await import('node:sea')) as SeaAssets;
  } catch {
    // Node without node:sea (older than 20.12): never a SEA.
    return undefined;
  }
}
