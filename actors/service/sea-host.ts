/**
 * The Windows service host carried inside the single executable: `npm run release` embeds every
 * file of build/native/ as a SEA asset named by its file name (docs/release.md), so
 * `service install` writes the host out from there. Outside a single executable there is none.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isSingleExecutable } from '../self-command.js';
import { HOST_EXE_NAME } from './windows-service.js';

/** Writes the embedded host into a private temp dir and returns its path; undefined when absent. */
export async function extractSeaServiceHost(): Promise<string | undefined> {
  if (!isSingleExecutable()) return undefined;
  const { getAsset } = await import('node:sea');
  let bytes: ArrayBuffer;
  try {
    bytes = getAsset(HOST_EXE_NAME);
  } catch {
    return undefined;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'kanade-host-'));
  const file = path.join(dir, HOST_EXE_NAME);
  await writeFile(file, Buffer.from(bytes), { mode: 0o700 });
  return file;
}
