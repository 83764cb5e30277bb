/**
 * Where the Windows agent finds kanade-job.exe (actors/exec/job-launcher.ts): off Windows never; in
 * a SEA the embedded asset written privately into the data dir and checked by SHA-256 before each
 * use; in a checkout build/native/. Runs on Linux (no Wine): the Job Object itself is exercised in
 * spec/windows/agent-wine.spec.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JOB_LAUNCHER_NAME, jobLauncherFor, type SeaAssets } from '../../actors/exec/job-launcher.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
const dataDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kanade-job-'));
  dirs.push(dir);
  return dir;
};
const log = () => {
  const lines: string[] = [];
  return {
    lines,
    warn: (...a: unknown[]) => void lines.push(String(a.at(-1))),
    error: (...a: unknown[]) => void lines.push(String(a.at(-1))),
  };
};
const sea = (bytes: Uint8Array | undefined): SeaAssets => ({
  isSea: () => true,
  getAsset: (key) => {
    if (key !== JOB_LAUNCHER_NAME || bytes === undefined) throw new Error(`no asset ${key}`);
    return new Uint8Array(bytes).buffer;
  },
});

describe('jobLauncherFor', () => {
  it('off Windows there is no launcher', async () => {
    const l = log();
    expect(await jobLauncherFor('/x', l, { platform: 'linux', sea: sea(Buffer.from('MZ')) })()).toBeUndefined();
    expect(l.lines).toEqual([]);
  });

  it('SEA: writes the asset privately into <data_dir>/native/ and reuses it while its SHA-256 matches', async () => {
    const dir = await dataDir();
    const bytes = Buffer.from('MZ fake launcher');
    const source = jobLauncherFor(dir, log(), { platform: 'win32', sea: sea(bytes) });
    const file = await source();
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(file).toBe(path.join(dir, 'native', `kanade-job-${sha.slice(0, 16)}.exe`));
    expect(await readFile(file!)).toEqual(bytes);
    expect((await stat(file!)).mode & 0o777).toBe(0o700);
    expect((await stat(path.dirname(file!))).mode & 0o777).toBe(0o700);
    expect(await source()).toBe(file);
  });

  it('SEA: a launcher changed on disk is written again before use', async () => {
    const dir = await dataDir();
    const bytes = Buffer.from('MZ the real one');
    const source = jobLauncherFor(dir, log(), { platform: 'win32', sea: sea(bytes) });
    const file = (await source())!;
    await writeFile(file, 'MZ planted');
    expect(await source()).toBe(file);
    expect(await readFile(file)).toEqual(bytes);
  });

  it('SEA without the asset: no launcher, one error line naming the fallback', async () => {
    const l = log();
    const source = jobLauncherFor(await dataDir(), l, { platform: 'win32', sea: sea(undefined) });
    expect(await source()).toBeUndefined();
    expect(await source()).toBeUndefined();
    expect(l.lines).toEqual([
      `the executable carries no ${JOB_LAUNCHER_NAME} asset; Windows process trees are killed with taskkill /T /F instead of a Job Object`,
    ]);
  });

  it('checkout: build/native/kanade-job.exe, or a logged fallback when it was not built', async () => {
    const notSea: SeaAssets = { isSea: () => false, getAsset: () => new ArrayBuffer(0) };
    expect(
      await jobLauncherFor('/d', log(), { platform: 'win32', sea: notSea, checkout: () => 'Z:\\repo\\build\\native\\kanade-job.exe' })(),
    ).toBe('Z:\\repo\\build\\native\\kanade-job.exe');
    const l = log();
    expect(await jobLauncherFor('/d', l, { platform: 'win32', sea: notSea, checkout: () => undefined })()).toBeUndefined();
    expect(l.lines[0]).toContain('not found in build/native/');
  });
});
