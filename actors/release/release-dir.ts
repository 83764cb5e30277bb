/**
 * Reads and checks a release directory written by `npm run release` before anything is uploaded:
 * manifest.json, SHA256SUMS and every file must agree. The directory is untrusted input: names
 * must be plain file names, keys must be the contract's keys for the manifest's version (§4),
 * and each file is hashed again here.
 *
 * @example
 * const release = await readReleaseDir('release/1.2.3');
 * if (!release.ok) console.error(release.error);
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { agentReleaseKeys, RELEASE_VERSION_RE } from '../../contract/index.js';

/** Larger manifests are not ours (a handful of files, a few hundred bytes each). */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** At most one file per key the contract names. */
const MAX_FILES = 8;
const FILE_NAME_RE = /^kanade-agent-[0-9A-Za-z.+_-]+$/;
const SHA256_HEX_RE = /^[0-9a-f]{64}$/;

/** One checked executable of a release. */
export interface ReleaseEntry {
  readonly file: string;
  readonly path: string;
  readonly key: string;
  readonly size: number;
  /** Lower-case hex. */
  readonly sha256: string;
}

export type ReleaseDir =
  | { readonly ok: true; readonly version: string; readonly entries: readonly ReleaseEntry[] }
  | { readonly ok: false; readonly error: string };

/** SHA-256 of a file, streamed (executables are ~100 MB). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readSmall(file: string): Promise<string> {
  const info = await lstat(file);
  if (!info.isFile()) throw new Error(`${file} is not a regular file`);
  if (info.size > MAX_MANIFEST_BYTES) throw new Error(`${file} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  return readFile(file, 'utf8');
}

/** `<hex>  <file>` lines of SHA256SUMS as a map file → hex. */
function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`SHA256SUMS: unreadable line ${JSON.stringify(line.slice(0, 100))}`);
    sums.set(m[2]!, m[1]!);
  }
  return sums;
}

/** Checks `dir`; the first problem found is the error. */
export async function readReleaseDir(dir: string): Promise<ReleaseDir> {
  try {
    const manifest: unknown = JSON.parse(await readSmall(path.join(dir, 'manifest.json')));
    const sums = parseSums(await readSmall(path.join(dir, 'SHA256SUMS')));
    if (typeof manifest !== 'object' || manifest === null) return { ok: false, error: 'manifest.json is not an object' };
    const { name, version, files } = manifest as { name?: unknown; version?: unknown; files?: unknown };
    if (name !== 'kanade-agent') return { ok: false, error: 'manifest.json: name is not "kanade-agent"' };
    if (typeof version !== 'string' || !RELEASE_VERSION_RE.test(version)) return { ok: false, error: 'manifest.json: version is not semver' };
    if (!Array.isArray(files) || files.length === 0 || files.length > MAX_FILES) return { ok: false, error: `manifest.json: files must list 1..${MAX_FILES} executables` };
    const allowedKeys = new Set(agentReleaseKeys(version));
    const seen = new Set<string>();
    const entries: ReleaseEntry[] = [];
    for (const raw of files as unknown[]) {
      const { file, key, size, sha256 } = (raw ?? {}) as Record<string, unknown>;
      if (typeof file !== 'string' || !FILE_NAME_RE.test(file) || file.includes('..')) return { ok: false, error: `manifest.json: file name ${JSON.stringify(file)} is not a plain kanade-agent-* name` };
      if (typeof key !== 'string' || !allowedKeys.has(key)) return { ok: false, error: `manifest.json: ${file}: key ${JSON.stringify(key)} is not an agent_releases key of ${version} (§4)` };
      if (seen.has(key)) return { ok: false, error: `manifest.json: key ${key} listed twice` };
      seen.add(key);
      if (!Number.isSafeInteger(size) || (size as number) <= 0) return { ok: false, error: `manifest.json: ${file}: size is not a positive integer` };
      if (typeof sha256 !== 'string' || !SHA256_HEX_RE.test(sha256)) return { ok: false, error: `manifest.json: ${file}: sha256 is not 64 hex digits` };
      if (sums.get(file) !== sha256) return { ok: false, error: `${file}: SHA256SUMS and manifest.json disagree` };
      const filePath = path.join(dir, file);
      const info = await lstat(filePath);
      if (!info.isFile()) return { ok: false, error: `${file} is not a regular file` };
      if (info.size !== size) return { ok: false, error: `${file}: size ${info.size} ≠ manifest ${size as number}` };
      if ((await sha256File(filePath)) !== sha256) return { ok: false, error: `${file}: SHA-256 differs from the manifest` };
      entries.push({ file, path: filePath, key, size: size as number, sha256 });
    }
    return { ok: true, version, entries };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
