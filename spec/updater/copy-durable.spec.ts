/** copyDurable / copyDurableSync (fs-extra's copy, then chmod and fsync): the swap's and the service install's copy step. */
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyDurable, copyDurableSync } from '../../actors/updater/install-state.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kanade-copy-'));
  dirs.push(dir);
  return dir;
}

describe.each([
  ['copyDurable', copyDurable],
  ['copyDurableSync', async (src: string, dest: string, mode: number) => copyDurableSync(src, dest, mode)],
])('%s', (_name, copyFn) => {
  it('replaces the destination with the bytes of the source and sets the mode, creating its directory', async () => {
    const dir = scratch();
    const src = path.join(dir, 'agent');
    const dest = path.join(dir, 'last-good', 'agent');
    writeFileSync(src, 'new bytes', { mode: 0o644 });
    await copyFn(src, dest, 0o700);
    expect(readFileSync(dest, 'utf8')).toBe('new bytes');
    if (process.platform !== 'win32') expect(statSync(dest).mode & 0o777).toBe(0o700);
    writeFileSync(src, 'newer');
    await copyFn(src, dest, 0o700);
    expect(readFileSync(dest, 'utf8')).toBe('newer');
  });

  it('fails with a clear error when source and destination are one file (fs.copyFile silently does nothing)', async () => {
    const dir = scratch();
    const file = path.join(dir, 'agent');
    writeFileSync(file, 'the only copy');
    const alias = path.join(dir, 'alias');
    symlinkSync(file, alias);
    await expect(copyFn(alias, file, 0o700)).rejects.toThrow(/same/i);
    expect(readFileSync(file, 'utf8')).toBe('the only copy');
  });

  it('copies the file a symlinked source points to, not the link', async () => {
    const dir = scratch();
    const real = path.join(dir, 'real');
    const link = path.join(dir, 'link');
    writeFileSync(real, 'bytes');
    symlinkSync(real, link);
    const dest = path.join(dir, 'dest');
    await copyFn(link, dest, 0o700);
    expect(lstatSync(dest).isSymbolicLink()).toBe(false);
    expect(readFileSync(dest, 'utf8')).toBe('bytes');
  });
});
