/**
 * Argv-level tests (no Wine, no Windows) of the explicit ACLs of issue #18 item 4
 * (actors/windows-acl.ts): the icacls argv, that it runs only on win32 (platform injected), that a
 * failure is one error line and never a throw, and that the start-up step applies it to the data
 * dir and the staging root. Under Wine, spec/windows/agent-wine.spec.ts reads the real ACL back.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { securePrivateFiles } from '../../actors/private-files.js';
import { icaclsArgv, restrictDirAcl, type RunArgv } from '../../actors/windows-acl.js';
import { stagingDirFor, windowsStagingRoot } from '../../actors/exec/run-process.js';

const memLog = () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'debug' }, sink) };
};
const recorder = (failure?: string) => {
  const calls: string[][] = [];
  const run: RunArgv = (argv) => {
    calls.push([...argv]);
    return Promise.resolve(failure);
  };
  return { calls, run };
};
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('Windows ACLs (argv level)', () => {
  it('builds icacls: inheritance removed, SYSTEM and Administrators by SID, full control inherited by files and subdirs', () => {
    expect(icaclsArgv('C:\\ProgramData\\Kanade\\data')).toEqual([
      'icacls',
      'C:\\ProgramData\\Kanade\\data',
      '/inheritance:r',
      '/grant:r',
      '*S-1-5-18:(OI)(CI)F',
      '*S-1-5-32-544:(OI)(CI)F',
    ]);
  });

  it('runs only on win32', async () => {
    const { log } = memLog();
    const linux = recorder();
    expect(await restrictDirAcl('/var/lib/kanade', log, { platform: 'linux', run: linux.run })).toBe(false);
    expect(linux.calls).toEqual([]);
    const win = recorder();
    expect(await restrictDirAcl('C:\\d', log, { platform: 'win32', run: win.run })).toBe(true);
    expect(win.calls).toEqual([icaclsArgv('C:\\d')]);
  });

  it('a failing or throwing icacls is one error line, never a throw', async () => {
    const { lines, log } = memLog();
    expect(await restrictDirAcl('C:\\d', log, { platform: 'win32', run: recorder('exit 5: Access is denied.').run })).toBe(false);
    expect(await restrictDirAcl('C:\\d', log, { platform: 'win32', run: () => Promise.reject(new Error('spawn icacls ENOENT')) })).toBe(
      false,
    );
    const errors = lines.filter((l) => l['level'] === 50);
    expect(errors.map((l) => l['err'])).toEqual(['exit 5: Access is denied.', 'spawn icacls ENOENT']);
    expect(String(errors[0]!['msg'])).toContain('cannot restrict the ACL of C:\\d');
  });

  it('the start-up step creates and restricts the data dir and the staging root on win32, and goes on when icacls fails', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'kanade-acl-'));
    dirs.push(root);
    const dataDir = path.join(root, 'data');
    const staging = path.join(root, 'agent-scripts');
    const { lines, log } = memLog();
    const { calls, run } = recorder('icacls: not found');
    await securePrivateFiles(dataDir, undefined, log, [staging], { platform: 'win32', run });
    expect(calls).toEqual([icaclsArgv(dataDir), icaclsArgv(staging)]);
    expect((await stat(staging)).isDirectory()).toBe(true);
    expect(lines.filter((l) => l['level'] === 50)).toHaveLength(2);
  });

  it("each run stages under the ACL'd root (so it inherits the ACL)", () => {
    const env = { ProgramData: 'D:\\PD' };
    expect(windowsStagingRoot(env)).toBe('D:\\PD\\Kanade\\agent-scripts');
    expect(path.win32.dirname(stagingDirFor('win32', env, 'x'))).toBe(windowsStagingRoot(env));
  });
});
