/**
 * Issue #18, under Wine: the agent as Windows code (node.exe for Windows on dist/, or the release
 * executable) against a real nats-server. Heartbeat with os_family "windows", `cmd` commands (exit
 * codes, stdout/stderr in the OEM code page and UTF-8, timeout), `status` over the named pipe, and
 * the default paths under %ProgramData%\Kanade\, the ACL step at start, and `powershell`/`pwsh`
 * through a fake powershell.exe/pwsh.exe (fixtures/fakeps.c). One prefix and one agent for the whole file.
 */
import { copyFile, readFile, rm, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { decodeHeartbeat, subjects } from '../../contract/index.js';
import type { Subscription } from '@nats-io/transport-node';
import { startBroker, type Broker } from '../harness/broker.js';
import { resultsFor, waitForResults } from '../executor/harness.js';
import {
  createWinePrefix,
  fixtureExe,
  pollUntil,
  toWindowsPath,
  spawnWindowsAgent,
  stopWindowsAgent,
  writeDefaultConfig,
  type WinePrefix,
  type WineProcess,
} from './wine.js';

const PC = 'wine-pc-1';
const tree = fixtureExe('tree');
/** The fake PowerShell (there is none under Wine), copied over system32's powershell.exe and as pwsh.exe. */
const fakePs = fixtureExe('fakeps');
/** Long enough for Wine to start launcher → cmd → 3 tree processes on a loaded 2-core machine. */
const TREE_TIMEOUT_SECS = 15;
/** Wine starting launcher → cmd → 3 tree processes while the rest of the suite loads both cores. */
const TREE_START_WAIT_MS = 120_000;
/** Per test: every command starts processes under Wine, slow on a loaded 2-core machine. */
const WINE_TEST_TIMEOUT_MS = 300_000;

describe('the Windows agent under Wine', { timeout: WINE_TEST_TIMEOUT_MS }, () => {
  let broker: Broker;
  let wine: WinePrefix;
  let agent: WineProcess | undefined;
  let sub: Subscription;
  const beats: Array<Record<string, unknown>> = [];

  const exec = async (draft: Parameters<typeof draftCommand>[0]) => {
    const cmd = draftCommand(draft);
    await publishCommand(broker.nc, subjects.commandsPc(PC), commandBytes(cmd));
    const [result] = await waitForResults(broker, cmd.request_id, 1, 60_000);
    return result!;
  };

  beforeAll(async () => {
    [broker, wine] = await Promise.all([startBroker(), createWinePrefix()]);
    await writeDefaultConfig(wine, PC, broker.url);
    const kv = await broker.kvm.open('agent_config');
    await kv.put('global', JSON.stringify({ heartbeat_interval: '1s' }));
    sub = broker.nc.subscribe(subjects.heartbeat(PC), {
      callback: (_err, msg) => {
        const decoded = decodeHeartbeat(msg.data);
        if (decoded.ok) beats.push(decoded.value as unknown as Record<string, unknown>);
      },
    });
    for (const exe of ['powershell.exe', 'pwsh.exe']) await copyFile(fakePs, wine.linuxPath(`C:\\windows\\system32\\${exe}`));
    // Wine's own powershell.exe is a builtin stub; native first so the copied fake runs.
    agent = await spawnWindowsAgent(wine, { WINEDLLOVERRIDES: `${wine.env['WINEDLLOVERRIDES'] ?? ''};powershell.exe,pwsh.exe=n` });
    await pollUntil('a heartbeat from the Windows agent', 90_000, () => beats.length >= 1, 200).catch(async (error) => {
      const out = await agent!.output();
      throw new Error(`${(error as Error).message}\n${out.stdout.slice(-3_000)}\n${out.stderr.slice(-3_000)}`);
    });
  }, 180_000);
  afterAll(async () => {
    const run = await stopWindowsAgent(agent);
    if (run !== undefined && run.code !== 0) console.error(`agent exit ${run.code ?? run.signal}\n${run.stderr.slice(-4_000)}`);
    await broker?.stop();
    await wine?.destroy();
  });

  it('beats with os_family "windows"', () => {
    sub.unsubscribe();
    expect(beats[0]).toMatchObject({ pc_id: PC, os_family: 'windows' });
  });

  it("runs icacls on the data dir and the staging root at start without an error line (Wine's icacls is a stub: ACLs not enforced)", async () => {
    const { stdout, stderr } = await agent!.output();
    expect(`${stdout}${stderr}`).not.toContain('cannot restrict the ACL');
    expect(`${stdout}${stderr}`).not.toContain('cannot create');
    // Created at start (before any PowerShell run) so that its ACL is inherited by every run's dir.
    expect((await stat(wine.linuxPath('C:\\ProgramData\\Kanade\\agent-scripts'))).isDirectory()).toBe(true);
  });

  it.each(['powershell', 'pwsh'] as const)(
    'runs %s through the fake on the Wine PATH: -ExecutionPolicy Bypass, BOM-staged launcher under C:\\ProgramData\\Kanade',
    async (shell) => {
      const record = wine.linuxPath('C:\\kanade-fakeps.txt');
      await rm(record, { force: true });
      const result = await exec({ shell, script: 'Write-Output hi' });
      expect(result, JSON.stringify(result)).toMatchObject({ exit_code: 7 });
      expect(result.stdout.trim()).toBe('fake-ps ran');
      // One block per start of the fake; the inventory's PowerShell session (-NoExit -Command) may append its own.
      const blocks = (await readFile(record, 'utf8')).split(/\r?\n(?=exe=)/).map((block) => block.split(/\r?\n/));
      const lines = blocks.find((block) => block.includes('arg=-File')) ?? [];
      expect(lines[0]).toMatch(new RegExp(`${shell}(\\.exe)?$`, 'i'));
      const args = lines.filter((l) => l.startsWith('arg=')).map((l) => l.slice(4));
      expect(args.slice(0, 5)).toEqual(['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File']);
      expect(args[5]).toMatch(/^C:\\ProgramData\\Kanade\\agent-scripts\\[0-9a-f-]{36}\\launcher\.ps1$/i);
      expect(lines).toContain('bom=1');
    },
  );

  it('runs cmd: exit codes and stdout/stderr', async () => {
    const ok = await exec({ shell: 'cmd', script: 'echo out-line & echo err-line 1>&2 & exit /b 3' });
    expect(ok).toMatchObject({ exit_code: 3 });
    expect(ok.stdout.trim()).toBe('out-line');
    expect(ok.stderr.trim()).toBe('err-line');
    const zero = await exec({ shell: 'cmd', script: 'ver >nul' });
    expect(zero.exit_code).toBe(0);
  });

  it('decodes output as lossy UTF-8: UTF-8 bytes arrive intact, an ANSI code page byte becomes U+FFFD', async () => {
    // The fixture writes UTF-8 bytes; cmd's echo writes the ANSI code page (Wine: 1252, é = 0xE9).
    const utf8 = await exec({ shell: 'cmd', script: `${toWindowsPath(tree)} utf8` });
    expect(utf8).toMatchObject({ exit_code: 0, stdout: 'héllo ✓' });
    const ansi = await exec({ shell: 'cmd', script: 'echo h\u00e9llo' });
    expect(ansi.stdout.trim()).toBe('h\uFFFDllo');
  });

  it.each([
    ['timeout', undefined],
    ['kill.<exec_id>', 'kill'],
  ] as const)('%s ends a tree of 3 nested processes (one orphaned) through the Job Object, none left alive', async (_name, how) => {
    const pidFile = `C:\\kanade-tree-${how ?? 'timeout'}.txt`;
    const execId = `wine-tree-${how ?? 'timeout'}-${Date.now()}`;
    const cmd = draftCommand({
      shell: 'cmd',
      script: `"${toWindowsPath(tree)}" 3 ${pidFile} orphan`,
      exec_id: execId,
      timeout_secs: how === undefined ? TREE_TIMEOUT_SECS : 120,
    });
    await publishCommand(broker.nc, subjects.commandsPc(PC), commandBytes(cmd));
    const pids = () => readFile(wine.linuxPath(pidFile), 'utf8').catch(() => '');
    const started = await pollUntil(
      'three processes of the tree (or an early result)',
      TREE_START_WAIT_MS,
      async () => {
        if ((await pids()).trim().split(/\s+/).length >= 3) return 'tree';
        const early = await resultsFor(broker, cmd.request_id);
        return early.length > 0 ? JSON.stringify(early) : undefined;
      },
      250,
    ).catch(async (error: unknown) => {
      // What the agent and the tree had done by then, for a failure on a loaded machine.
      const out = await agent!.output();
      throw new Error(
        `${(error as Error).message}\npid file: ${JSON.stringify(await pids())}\n${out.stdout.slice(-4_000)}\n${out.stderr.slice(-4_000)}`,
      );
    });
    expect(started).toBe('tree');
    if (how === 'kill') broker.nc.publish(subjects.kill(execId), '');
    const [result] = await waitForResults(broker, cmd.request_id, 1, 60_000);
    expect(result, JSON.stringify(result)).toMatchObject({ exit_code: -1 });
    expect(result!.stderr).toContain(how === undefined ? `timeout after ${TREE_TIMEOUT_SECS}s` : `kill.${execId}`);
    const alive = await wine.run([tree, 'alive', pidFile]);
    expect(alive.stdout.trim()).toBe('0');
  });
});
