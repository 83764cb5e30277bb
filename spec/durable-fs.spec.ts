/**
 * Issue #18: under Wine the agent refused every command because the admission ledger fsynced its
 * directory, which Windows answers with EPERM. The one durable-fs rule (actors/durable-fs.ts):
 * directories are fsynced everywhere but Windows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canSyncDirectory, syncDirectory } from '../actors/durable-fs.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('durable fs platform rule', () => {
  it.each([
    ['win32', false],
    ['linux', true],
    ['darwin', true],
    ['freebsd', true],
  ] as const)('%s: directory fsync %s', (platform, expected) => {
    expect(canSyncDirectory(platform)).toBe(expected);
  });

  it('on win32 never opens the directory (Windows refuses with EPERM)', async () => {
    // A path that cannot be opened proves no open was attempted.
    await expect(syncDirectory(path.join(tmpdir(), 'kanade-no-such-dir', 'x'), 'win32')).resolves.toBeUndefined();
  });

  it('elsewhere fsyncs the directory, and a failure rejects', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kanade-durable-'));
    dirs.push(dir);
    await expect(syncDirectory(dir, 'linux')).resolves.toBeUndefined();
    await expect(syncDirectory(path.join(dir, 'missing'), 'linux')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
