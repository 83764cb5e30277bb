/**
 * The persisted self-update state, read defensively (a file on disk is hostile until checked):
 * `quarantine.json`, `last_swap.json`, `boot_sentinel.json`, `last_good/last_good.json`, and the
 * durable copy of an executable. Readers never throw: an unreadable file reads as absent, with
 * the reason handed to the caller to log.
 */
import { closeSync, cpSync, fsyncSync, openSync, readFileSync, chmodSync } from 'node:fs';
import { chmod, cp, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeLastSwap, isReleaseVersion, type LastSwap } from '../../contract/index.js';
import {
  BOOT_SENTINEL_FILE,
  LAST_GOOD_DIR,
  LAST_GOOD_META_FILE,
  LAST_SWAP_FILE,
  QUARANTINE_FILE,
  writeDurable,
  writeDurableSync,
} from './updater-files.js';

/** At most this many quarantined versions are kept (the oldest drop out). */
export const MAX_QUARANTINED_VERSIONS = 32;
/** Files read here are tiny; anything larger is not ours. */
const MAX_STATE_FILE_BYTES = 64 * 1024;

/** A read that may have found nothing usable; `problem` says why when a file was there but bad. */
export interface StateRead<T> {
  readonly value: T;
  readonly problem: string | null;
}

function readSmallSync(file: string): { text: string | null; problem: string | null } {
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_STATE_FILE_BYTES) return { text: null, problem: `${file} is ${bytes.length} bytes, ignored` };
    return { text: bytes.toString('utf8'), problem: null };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { text: null, problem: null };
    return { text: null, problem: `${file}: ${(error as Error).message}` };
  }
}

async function readSmall(file: string): Promise<{ text: string | null; problem: string | null }> {
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_STATE_FILE_BYTES) return { text: null, problem: `${file} is ${bytes.length} bytes, ignored` };
    return { text: bytes.toString('utf8'), problem: null };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { text: null, problem: null };
    return { text: null, problem: `${file}: ${(error as Error).message}` };
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function parseQuarantine(file: string, text: string | null, problem: string | null): StateRead<string[]> {
  if (text === null) return { value: [], problem };
  const obj = parseObject(text);
  const versions = obj?.['versions'];
  if (!Array.isArray(versions)) return { value: [], problem: `${file}: expected {"versions":[…]}` };
  const valid = versions.filter((v): v is string => typeof v === 'string' && isReleaseVersion(v));
  return {
    value: [...new Set(valid)].slice(-MAX_QUARANTINED_VERSIONS),
    problem: valid.length === versions.length ? null : `${file}: invalid entries ignored`,
  };
}

/** `quarantine.json` → the quarantined versions (valid labels only, at most {@link MAX_QUARANTINED_VERSIONS}). */
export async function readQuarantine(dataDir: string): Promise<StateRead<string[]>> {
  const file = path.join(dataDir, QUARANTINE_FILE);
  const { text, problem } = await readSmall(file);
  return parseQuarantine(file, text, problem);
}

/** Synchronous {@link readQuarantine} (boot sentinel). */
export function readQuarantineSync(dataDir: string): StateRead<string[]> {
  const file = path.join(dataDir, QUARANTINE_FILE);
  const { text, problem } = readSmallSync(file);
  return parseQuarantine(file, text, problem);
}

function quarantineJson(versions: readonly string[]): string {
  return `${JSON.stringify({ versions: [...new Set(versions)].slice(-MAX_QUARANTINED_VERSIONS) })}\n`;
}

/** Writes the quarantine list durably (boot sentinel). */
export function writeQuarantineSync(dataDir: string, versions: readonly string[]): void {
  writeDurableSync(path.join(dataDir, QUARANTINE_FILE), quarantineJson(versions));
}

/** Writes the quarantine list durably. */
export async function writeQuarantine(dataDir: string, versions: readonly string[]): Promise<void> {
  await writeDurable(path.join(dataDir, QUARANTINE_FILE), quarantineJson(versions));
}

/** `last_swap.json` (§10), or null. */
export async function readLastSwap(dataDir: string): Promise<StateRead<LastSwap | null>> {
  const file = path.join(dataDir, LAST_SWAP_FILE);
  const { text, problem } = await readSmall(file);
  if (text === null) return { value: null, problem };
  const decoded = decodeLastSwap(text);
  return decoded.ok
    ? { value: decoded.value, problem: null }
    : { value: null, problem: `${file}: ${decoded.error.path} ${decoded.error.reason}` };
}

/** Writes `last_swap.json` durably (§10 step 4). */
export async function writeLastSwap(dataDir: string, swap: LastSwap): Promise<void> {
  await writeDurable(
    path.join(dataDir, LAST_SWAP_FILE),
    `${JSON.stringify({ target: swap.target, running_before: swap.running_before })}\n`,
  );
}

/** Synchronous {@link writeLastSwap} (inside the swap's commit). */
export function writeLastSwapSync(dataDir: string, swap: LastSwap): void {
  writeDurableSync(path.join(dataDir, LAST_SWAP_FILE), `${JSON.stringify({ target: swap.target, running_before: swap.running_before })}\n`);
}

/** `boot_sentinel.json`: boots of `version` not yet confirmed healthy. */
export interface BootSentinel {
  readonly version: string;
  readonly unconfirmed_boots: number;
}

/** `boot_sentinel.json`, or null when absent or unusable. */
export function readBootSentinelSync(dataDir: string): StateRead<BootSentinel | null> {
  const file = path.join(dataDir, BOOT_SENTINEL_FILE);
  const { text, problem } = readSmallSync(file);
  if (text === null) return { value: null, problem };
  const obj = parseObject(text);
  const version = obj?.['version'];
  const boots = obj?.['unconfirmed_boots'];
  if (typeof version !== 'string' || typeof boots !== 'number' || !Number.isSafeInteger(boots) || boots < 0) {
    return { value: null, problem: `${file}: expected {"version","unconfirmed_boots"}; starting the count again` };
  }
  return { value: { version, unconfirmed_boots: boots }, problem: null };
}

export function writeBootSentinelSync(dataDir: string, sentinel: BootSentinel): void {
  writeDurableSync(path.join(dataDir, BOOT_SENTINEL_FILE), `${JSON.stringify(sentinel)}\n`);
}

export async function writeBootSentinel(dataDir: string, sentinel: BootSentinel): Promise<void> {
  await writeDurable(path.join(dataDir, BOOT_SENTINEL_FILE), `${JSON.stringify(sentinel)}\n`);
}

/** `last_good/last_good.json`: which version the copy in `last_good/` is, and its file name. */
export interface LastGood {
  readonly version: string;
  readonly file: string;
}

function parseLastGood(file: string, text: string | null, problem: string | null): StateRead<LastGood | null> {
  if (text === null) return { value: null, problem };
  const obj = parseObject(text);
  const version = obj?.['version'];
  const name = obj?.['file'];
  if (
    typeof version !== 'string' ||
    typeof name !== 'string' ||
    name !== path.basename(name) ||
    name.startsWith('.') ||
    name.length === 0
  ) {
    return { value: null, problem: `${file}: expected {"version","file"}` };
  }
  return { value: { version, file: name }, problem: null };
}

export function readLastGoodSync(dataDir: string): StateRead<LastGood | null> {
  const file = path.join(dataDir, LAST_GOOD_DIR, LAST_GOOD_META_FILE);
  const { text, problem } = readSmallSync(file);
  return parseLastGood(file, text, problem);
}

export async function readLastGood(dataDir: string): Promise<StateRead<LastGood | null>> {
  const file = path.join(dataDir, LAST_GOOD_DIR, LAST_GOOD_META_FILE);
  const { text, problem } = await readSmall(file);
  return parseLastGood(file, text, problem);
}

export async function writeLastGoodMeta(dataDir: string, lastGood: LastGood): Promise<void> {
  await writeDurable(path.join(dataDir, LAST_GOOD_DIR, LAST_GOOD_META_FILE), `${JSON.stringify(lastGood)}\n`);
}

/**
 * `fs.cp` rather than `fs.copyFile`: it creates `dest`'s directory, follows a symlinked source,
 * and fails with a clear error (ERR_FS_CP_EINVAL) when `src` and `dest` are one file under two
 * paths (where copyFile silently does nothing and the caller would believe it holds a second
 * copy). It does not fsync; {@link copyDurable} does. (fs-extra's copy did the same; node's `cp`
 * is a port of it, and the agent no longer loads fs-extra and graceful-fs at start: docs/PERFORMANCE.md,
 * "Idle weight, second pass".) No move-with-overwrite is used: it would remove
 * `dest` before renaming, so a crash in between would leave no executable — the swap renames
 * `<exe>.new` over `<exe>` itself (one atomic rename) and fsyncs the directory.
 */
const COPY_OPTIONS = { force: true, errorOnExist: false, dereference: true } as const;

/** Copies `src` to `dest` (replacing it), sets `mode` and fsyncs the bytes. The caller fsyncs the directory. */
export async function copyDurable(src: string, dest: string, mode: number): Promise<void> {
  await cp(src, dest, COPY_OPTIONS);
  await chmod(dest, mode);
  const handle = await open(dest, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Synchronous {@link copyDurable}. */
export function copyDurableSync(src: string, dest: string, mode: number): void {
  cpSync(src, dest, COPY_OPTIONS);
  chmodSync(dest, mode);
  const fd = openSync(dest, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
