/**
 * Issue #18: under Wine the agent refused every command because the admission ledger fsynced its
 * directory, which Windows answers with EPERM. The one durable-fs rule (actors/durable-fs.ts):
 * directories are fsynced everywhere but Windows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canSyncDirectory, renameReplacing, syncDirectory, WINDOWS_RENAME_RETRY_MS } from '../actors/durable-fs.js';

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

describe('renameReplacing', () => {
  const failing = (code: string, times: number) => {
    const calls: string[] = [];
    const fn = (from: string, to: string) => {
      calls.push(`${from}->${to}`);
      return calls.length <= times ? Promise.reject(Object.assign(new Error(code), { code })) : Promise.resolve();
    };
    return { calls, fn };
  };

  // Found under Wine (#18): a replay's duplicate check reading a ledger record made the concurrent
  // rewrite of that record fail with EPERM, and the command ended as "admission ledger unavailable".
  it.each(['EPERM', 'EACCES', 'EBUSY'])('on win32 retries %s while a reader holds the target', async (code) => {
    const { calls, fn } = failing(code, 2);
    await renameReplacing('a.tmp', 'a', 'win32', fn);
    expect(calls).toHaveLength(3);
  });

  it('on win32 gives up after the last retry with the error', async () => {
    const { calls, fn } = failing('EPERM', 100);
    await expect(renameReplacing('a.tmp', 'a', 'win32', fn)).rejects.toMatchObject({ code: 'EPERM' });
    expect(calls).toHaveLength(WINDOWS_RENAME_RETRY_MS.length + 1);
  });

  it.each([
    ['linux', 'EPERM'],
    ['win32', 'ENOSPC'],
  ] as const)('on %s a %s rejects at once', async (platform, code) => {
    const { calls, fn } = failing(code, 1);
    await expect(renameReplacing('a.tmp', 'a', platform, fn)).rejects.toMatchObject({ code });
    expect(calls).toHaveLength(1);
  });
});
