/**
 * The win-x64 executable of `npm run release` (issue 10), built here and run under Wine in a fresh
 * Windows 10 prefix: `--version` and the build facts, the native helpers embedded as SEA assets,
 * and the Authenticode signature of node.exe removed rather than left broken.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRelease, nativeAssets, type ReleaseManifest } from '../../scripts/release.mjs';
import { createWinePrefix, type WinePrefix } from './wine.js';

const VERSION = '9.9.2-wine.1';
/** Bundle + mingw + postject of a 75 MB PE, and a fresh Wine prefix, on a loaded 2-core machine. */
const SETUP_TIMEOUT_MS = 400_000;
/** IMAGE_DIRECTORY_ENTRY_SECURITY of a PE32+ image: optional header + 112 + 4 × 8. */
const securityDirectory = (image: Buffer) => {
  const optional = image.readUInt32LE(0x3c) + 24;
  return { offset: image.readUInt32LE(optional + 144), size: image.readUInt32LE(optional + 148) };
};

let outDir: string;
let manifest: ReleaseManifest;
let wine: WinePrefix;
let exe: string;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'kanade-release-win-'));
  [manifest, wine] = await Promise.all([
    buildRelease({ version: VERSION, targets: ['win-x64'], outDir, log: () => {} }),
    createWinePrefix(),
  ]);
  exe = join(outDir, manifest.files[0]!.file);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await wine?.remove();
  await rm(outDir, { recursive: true, force: true });
});

describe('npm run release --targets win-x64 (under Wine)', () => {
  it('is named and keyed as the contract says, without a code cache, and without a (broken) signature', async () => {
    expect(manifest.files).toEqual([expect.objectContaining({
      file: `kanade-agent-${VERSION}-windows-x86_64.exe`, key: VERSION, target: 'win-x64', code_cache: false,
    })]);
    const image = await readFile(exe);
    expect(image.subarray(0, 2).toString('latin1')).toBe('MZ');
    expect(securityDirectory(image)).toEqual({ offset: 0, size: 0 });
  });

  it('--version prints "kanade-agent <V>"; --version --json reports win32-x64 and the embedded helpers', async () => {
    const plain = await wine.run(exe, ['--version']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(`kanade-agent ${VERSION}\n`);

    const json = await wine.run(exe, ['--version', '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ version: VERSION, commit: manifest.commit, platform: 'win32-x64', node_version: process.version, single_executable: true });
    const helpers = Object.keys(await nativeAssets('win-x64'));
    expect(helpers).toContain('kanade-service-host.exe');
    expect(report.assets).toEqual(helpers);
  });
});
