/**
 * The swap (§10 step 4) with stand-in executables: SIGKILL at every step leaves a complete
 * executable (old before the rename, new after), which still runs after the next start's cleanup;
 * a failure at any step is undone; the boot sentinel counts unconfirmed boots, rolls a version
 * that never got confirmed back to the last-good copy and quarantines it; confirmation records
 * the last-good copy.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createFailpoints, NO_FAILPOINTS } from '../../actors/failpoints.js';
import { checkBoot, confirmBootOn, MAX_UNCONFIRMED_BOOTS } from '../../actors/updater/boot-sentinel.js';
import { readQuarantine, writeLastSwapSync } from '../../actors/updater/install-state.js';
import { describeExecutable } from '../../actors/updater/self-executable.js';
import { SWAP_FAILPOINTS, replaceExecutable } from '../../actors/updater/swap-executable.js';
import { versionOf, writeStandIn } from './stand-ins.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'swap-entry.mjs');
const silent = pino({ level: 'silent' });
const dirs: string[] = [];

function scratch(): { dir: string; exe: string; dataDir: string; staged: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'kanade-swap-'));
  dirs.push(dir);
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const exe = path.join(dir, 'bin', 'kanade-agent');
  mkdirSync(path.dirname(exe));
  writeStandIn(exe, '1.0.0');
  const staged = path.join(dir, 'staged');
  writeStandIn(staged, '2.0.0');
  return { dir, exe, dataDir, staged };
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function runSwapProcess(
  args: string[],
  failpoints: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FIXTURE, ...args], {
      env: { ...process.env, KANADE_FAILPOINTS: failpoints },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.on('exit', (code, signal) => resolve({ code, signal, stdout }));
  });
}

describe('swap: SIGKILL at every step', () => {
  it.each(SWAP_FAILPOINTS.map((point, index) => [point, index >= 2 ? '2.0.0' : '1.0.0'] as const))(
    'killed at %s → the next start runs a complete executable (%s)',
    async (point, expected) => {
      const s = scratch();
      const run = await runSwapProcess([s.exe, s.staged, s.dataDir, '2.0.0', '1.0.0'], `${point}=kill`);
      expect(run.signal).toBe('SIGKILL');
      expect(versionOf(s.exe)).toBe(`kanade-agent ${expected}`);
      // The next start: stale .new/.old are deleted, the executable is untouched and still runs.
      const boot = checkBoot({
        dataDir: s.dataDir,
        exe: describeExecutable(s.exe),
        version: expected,
        log: silent,
        failpoints: NO_FAILPOINTS,
      });
      expect(boot.kind).toBe('proceed');
      expect(existsSync(`${s.exe}.new`)).toBe(false);
      expect(existsSync(`${s.exe}.old`)).toBe(false);
      expect(versionOf(s.exe)).toBe(`kanade-agent ${expected}`);
    },
  );

  it('without a failpoint: new executable in place, last_swap.json written, old kept as .old', async () => {
    const s = scratch();
    const run = await runSwapProcess([s.exe, s.staged, s.dataDir, '2.0.0', '1.0.0'], '');
    expect(JSON.parse(run.stdout)).toEqual({ ok: true });
    expect(versionOf(s.exe)).toBe('kanade-agent 2.0.0');
    expect(versionOf(`${s.exe}.old`)).toBe('kanade-agent 1.0.0');
    expect(existsSync(`${s.exe}.new`)).toBe(false);
    expect(JSON.parse(readFileSync(path.join(s.dataDir, 'last_swap.json'), 'utf8'))).toEqual({ target: '2.0.0', running_before: '1.0.0' });
  });
});

describe('swap: a failure at any step is undone', () => {
  it.each(SWAP_FAILPOINTS)('failing at %s leaves the old executable and no .new/.old', async (point) => {
    const s = scratch();
    const outcome = await replaceExecutable({
      exe: s.exe,
      source: s.staged,
      failpoints: createFailpoints(`${point}=throw`),
      record: () => writeLastSwapSync(s.dataDir, { target: '2.0.0', running_before: '1.0.0' }),
    });
    expect(outcome.ok).toBe(false);
    expect(outcome.ok ? '' : outcome.reason).toMatch(/undone/);
    expect(versionOf(s.exe)).toBe('kanade-agent 1.0.0');
    expect(existsSync(`${s.exe}.new`)).toBe(false);
    expect(existsSync(`${s.exe}.old`)).toBe(false);
  });

  it('an abort before the commit changes nothing', async () => {
    const s = scratch();
    const controller = new AbortController();
    controller.abort();
    const outcome = await replaceExecutable({
      exe: s.exe,
      source: s.staged,
      failpoints: NO_FAILPOINTS,
      record: () => undefined,
      signal: controller.signal,
    });
    expect(outcome).toEqual({ ok: false, reason: 'cancelled before the swap' });
    expect(versionOf(s.exe)).toBe('kanade-agent 1.0.0');
    expect(existsSync(`${s.exe}.new`)).toBe(false);
  });
});

describe('boot sentinel', () => {
  function boot(s: ReturnType<typeof scratch>, version: string) {
    return checkBoot({ dataDir: s.dataDir, exe: describeExecutable(s.exe), version, log: silent, failpoints: NO_FAILPOINTS });
  }
  const sentinel = (s: ReturnType<typeof scratch>) =>
    JSON.parse(readFileSync(path.join(s.dataDir, 'boot_sentinel.json'), 'utf8')) as unknown;

  it('counts unconfirmed boots and deletes stale .old/.new and staging/ at start', () => {
    const s = scratch();
    writeFileSync(`${s.exe}.old`, 'stale');
    writeFileSync(`${s.exe}.new`, 'half-writ');
    mkdirSync(path.join(s.dataDir, 'staging'));
    writeFileSync(path.join(s.dataDir, 'staging', 'kanade-agent.2.0.0.staged'), 'partial');
    expect(boot(s, '1.0.0')).toEqual({ kind: 'proceed', unconfirmedBoots: 1 });
    expect(existsSync(`${s.exe}.old`) || existsSync(`${s.exe}.new`) || existsSync(path.join(s.dataDir, 'staging'))).toBe(false);
    expect(boot(s, '1.0.0')).toEqual({ kind: 'proceed', unconfirmedBoots: 2 });
    expect(sentinel(s)).toEqual({ version: '1.0.0', unconfirmed_boots: 2 });
  });

  it('is skipped when the agent is not a single executable', () => {
    const s = scratch();
    expect(checkBoot({ dataDir: s.dataDir, exe: null, version: '1.0.0', log: silent, failpoints: NO_FAILPOINTS }).kind).toBe('skipped');
    expect(existsSync(path.join(s.dataDir, 'boot_sentinel.json'))).toBe(false);
  });

  it(`after ${MAX_UNCONFIRMED_BOOTS} unconfirmed boots restores the last-good version and quarantines the bad one`, async () => {
    const s = scratch();
    // 2.0.0 runs and is confirmed healthy: it becomes the last-good copy.
    writeStandIn(s.exe, '2.0.0');
    expect(boot(s, '2.0.0').kind).toBe('proceed');
    await confirmBootOn({ dataDir: s.dataDir, exe: describeExecutable(s.exe), log: silent }, '2.0.0');
    expect(sentinel(s)).toEqual({ version: '2.0.0', unconfirmed_boots: 0 });
    expect(versionOf(path.join(s.dataDir, 'last_good', 'kanade-agent'))).toBe('kanade-agent 2.0.0');
    // 3.0.0 is swapped in and never gets confirmed.
    writeStandIn(s.exe, '3.0.0');
    writeLastSwapSync(s.dataDir, { target: '3.0.0', running_before: '2.0.0' });
    for (let n = 1; n <= MAX_UNCONFIRMED_BOOTS; n += 1) expect(boot(s, '3.0.0')).toEqual({ kind: 'proceed', unconfirmedBoots: n });
    expect(boot(s, '3.0.0')).toEqual({ kind: 'rolled_back', from: '3.0.0', to: '2.0.0', unconfirmedBoots: MAX_UNCONFIRMED_BOOTS });
    expect(versionOf(s.exe)).toBe('kanade-agent 2.0.0');
    expect((await readQuarantine(s.dataDir)).value).toEqual(['3.0.0']);
    expect(existsSync(path.join(s.dataDir, 'last_swap.json'))).toBe(false);
    expect(sentinel(s)).toEqual({ version: '2.0.0', unconfirmed_boots: 0 });
    // The restored version boots normally.
    expect(boot(s, '2.0.0')).toEqual({ kind: 'proceed', unconfirmedBoots: 1 });
  });

  it('without a last-good copy of another version keeps booting and counting', async () => {
    const s = scratch();
    await confirmBootOn({ dataDir: s.dataDir, exe: describeExecutable(s.exe), log: silent }, '1.0.0');
    for (let n = 1; n <= MAX_UNCONFIRMED_BOOTS + 1; n += 1) expect(boot(s, '1.0.0')).toEqual({ kind: 'proceed', unconfirmedBoots: n });
    expect(versionOf(s.exe)).toBe('kanade-agent 1.0.0');
  });

  it('a version confirmed healthy leaves the quarantine', async () => {
    const s = scratch();
    writeFileSync(path.join(s.dataDir, 'quarantine.json'), '{"versions":["1.0.0","3.0.0"]}');
    await confirmBootOn({ dataDir: s.dataDir, exe: describeExecutable(s.exe), log: silent }, '1.0.0');
    expect((await readQuarantine(s.dataDir)).value).toEqual(['3.0.0']);
  });

  it('hostile state files read as absent', async () => {
    const s = scratch();
    writeFileSync(path.join(s.dataDir, 'boot_sentinel.json'), '{"version":1}');
    writeFileSync(path.join(s.dataDir, 'quarantine.json'), '{"versions":["../x", 5, "2.0.0"]}');
    expect(boot(s, '1.0.0')).toEqual({ kind: 'proceed', unconfirmedBoots: 1 });
    expect((await readQuarantine(s.dataDir)).value).toEqual(['2.0.0']);
  });
});
