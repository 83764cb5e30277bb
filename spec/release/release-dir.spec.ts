/** readReleaseDir: a release directory is untrusted until manifest.json, SHA256SUMS and the files agree. */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readReleaseDir } from '../../actors/release/release-dir.js';
import { objectDigest } from '../../actors/release/publish-release.js';
import { agentReleaseKey } from '../../contract/index.js';
import { TARGETS } from '../../scripts/release.mjs';

const V = '1.2.3';
const BODY = Buffer.from('not really an executable');
const HEX = createHash('sha256').update(BODY).digest('hex');
const FILE = `kanade-agent-${V}-linux-x86_64`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kanade-release-dir-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function writeRelease(overrides: Record<string, unknown> = {}, sums = `${HEX}  ${FILE}\n`) {
  await writeFile(join(dir, FILE), BODY);
  const entry = { file: FILE, key: `${V}-linux-x86_64`, target: 'linux-x64', size: BODY.length, sha256: HEX, ...overrides };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ name: 'kanade-agent', version: V, files: [entry] }));
  await writeFile(join(dir, 'SHA256SUMS'), sums);
}

describe('readReleaseDir', () => {
  it('accepts a consistent directory', async () => {
    await writeRelease();
    expect(await readReleaseDir(dir)).toEqual({ ok: true, version: V, entries: [{ file: FILE, path: join(dir, FILE), key: `${V}-linux-x86_64`, size: BODY.length, sha256: HEX }] });
  });

  it.each([
    [{ file: '../evil' }, 'not a plain kanade-agent-* name'],
    [{ file: 'kanade-agent-a/b' }, 'not a plain kanade-agent-* name'],
    [{ key: '1.2.3-linux-x86_64/../x' }, 'is not an agent_releases key of 1.2.3'],
    [{ key: '9.9.9-linux-x86_64' }, 'is not an agent_releases key of 1.2.3'],
    [{ size: BODY.length + 1 }, 'size'],
    [{ sha256: 'A'.repeat(64) }, 'sha256 is not 64 hex digits'],
  ])('refuses manifest entry %j', async (override, message) => {
    await writeRelease(override);
    const result = await readReleaseDir(dir);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toContain(message);
  });

  it('refuses when SHA256SUMS disagrees, the bytes changed, or the file is a symlink', async () => {
    await writeRelease({}, `${'0'.repeat(64)}  ${FILE}\n`);
    expect(await readReleaseDir(dir)).toMatchObject({ ok: false, error: expect.stringContaining('SHA256SUMS and manifest.json disagree') });

    await writeRelease();
    await writeFile(join(dir, FILE), Buffer.from('xot really an executable'));
    expect(await readReleaseDir(dir)).toMatchObject({ ok: false, error: expect.stringContaining('SHA-256 differs') });

    await writeRelease();
    await rm(join(dir, FILE));
    await writeFile(join(dir, 'real'), BODY);
    await symlink(join(dir, 'real'), join(dir, FILE));
    expect(await readReleaseDir(dir)).toMatchObject({ ok: false, error: expect.stringContaining('not a regular file') });
  });
});

describe('agent_releases keys', () => {
  it('scripts/release.mjs names every target as the contract does (§4)', () => {
    for (const spec of Object.values(TARGETS)) expect(spec.key(V)).toBe(agentReleaseKey(V, spec.platform, spec.arch));
    expect(agentReleaseKey(V, 'win32', 'x64')).toBe(V);
    expect(agentReleaseKey(V, 'linux', 'ia32')).toBeUndefined();
  });

  it('object digests are SHA-256= and padded base64url', () => {
    expect(objectDigest(HEX)).toMatch(/^SHA-256=[A-Za-z0-9_-]{43}=$/);
    expect(Buffer.from(objectDigest(HEX).slice(8), 'base64url').toString('hex')).toBe(HEX);
  });
});
