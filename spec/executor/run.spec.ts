/** Running commands through the executor (§8.3, §8.4): timeout, remote kill, tree kill, retry, run_as, script_object. */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { OBJ_SCRIPTS, subjects, type Command } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { alive, pollUntil, startExecutor, waitForResults, type TestExecutor } from './harness.js';

describe('executor runs', () => {
  let broker: Broker;
  let agent: TestExecutor;
  let dir: string;
  beforeAll(async () => {
    broker = await startBroker();
    agent = await startExecutor(broker);
    dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-run-'));
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (draft: Partial<Command> & Pick<Command, 'shell' | 'script'>) => {
    const cmd = draftCommand(draft);
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(cmd));
    return cmd;
  };
  const grandchildPid = (file: string) =>
    pollUntil('grandchild pid', 10_000, async () => {
      const text = await readFile(file, 'utf8').catch(() => '');
      return text.trim() ? Number(text.trim()) : undefined;
    });

  it('timeout: exit -1, "timeout after <N>s", and the forked grandchild is gone', async () => {
    const pidFile = path.join(dir, 'timeout.pid');
    const cmd = await run({ shell: 'sh', script: `echo started; sleep 300 & echo $! > ${pidFile}; wait`, timeout_secs: 1 });
    const pid = await grandchildPid(pidFile);
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r?.exit_code).toBe(-1);
    expect(r?.skipped).toBe(false);
    expect(r?.stdout).toBe('started\n');
    expect(r?.stderr).toBe('timeout after 1s');
    await pollUntil('grandchild gone after timeout', 7_000, () => !alive(pid));
  });

  it('remote kill: kill.<exec_id> ends the tree with "killed by remote signal (kill.<exec_id>)"', async () => {
    const pidFile = path.join(dir, 'kill.pid');
    const cmd = await run({ shell: 'sh', script: `sleep 300 & echo $! > ${pidFile}; wait`, exec_id: 'exec-kill-1', timeout_secs: 60 });
    const pid = await grandchildPid(pidFile);
    broker.nc.publish(subjects.kill('exec-kill-1'), 'stop');
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r?.exit_code).toBe(-1);
    expect(r?.exec_id).toBe('exec-kill-1');
    expect(r?.stderr).toBe('killed by remote signal (kill.exec-kill-1)');
    await pollUntil('grandchild gone after kill', 7_000, () => !alive(pid));
  });

  it('retry: failed attempts are retried and the one result carries the note (§8.4)', async () => {
    const counter = path.join(dir, 'attempts');
    const ok = await run({
      shell: 'sh',
      script: `echo x >> ${counter}; [ $(wc -l < ${counter}) -ge 3 ]`,
      retry: { max: 5, backoff_secs: 0 },
    });
    const [r] = await waitForResults(broker, ok.request_id);
    expect(r?.exit_code).toBe(0);
    expect(r?.stderr).toBe('succeeded after 2 retries (#418 on_failure.retry)');
    expect((await readFile(counter, 'utf8')).split('\n').filter(Boolean)).toHaveLength(3);

    const bad = await run({ shell: 'sh', script: 'echo no >&2; exit 9', retry: { max: 1, backoff_secs: 0 } });
    const [b] = await waitForResults(broker, bad.request_id);
    expect(b?.exit_code).toBe(9);
    expect(b?.stderr).toBe('no\nfailed after 1 retries exhausted (#418 on_failure.retry)');
    const results = await waitForResults(broker, bad.request_id);
    expect(results).toHaveLength(1);
  });

  it('run_as user/system_gui is refused with -1; a spawn failure is -1 "failed to start <shell>: …"', async () => {
    const user = await run({ shell: 'sh', script: 'echo nope', run_as: 'user' });
    const [u] = await waitForResults(broker, user.request_id);
    expect(u).toMatchObject({ exit_code: -1, skipped: false, stdout: '', stderr: 'run_as=user is not supported by this agent' });
    const cmd = await run({ shell: 'cmd', script: 'echo hi' });
    const [c] = await waitForResults(broker, cmd.request_id);
    expect(c?.exit_code).toBe(-1);
    expect(c?.stderr).toMatch(/^failed to start cmd: .*ENOENT/);
  });

  it('script_object: fetched from store scripts, SHA-256 checked, cached; a mismatch is -1', async () => {
    const script = 'echo from-object';
    const sha = createHash('sha256').update(script).digest('hex');
    const store = await broker.objm.open(OBJ_SCRIPTS);
    await store.putBlob({ name: 'tools/1.0' }, new TextEncoder().encode(script));
    const good = await run({ shell: 'sh', script: '', script_object: 'tools/1.0', script_object_sha256: sha });
    const [g] = await waitForResults(broker, good.request_id);
    expect(g?.stdout).toBe('from-object\n');
    expect(await readFile(path.join(agent.dataDir, 'script_cache', sha), 'utf8')).toBe(script);

    const wrong = 'f'.repeat(64);
    const bad = await run({ shell: 'sh', script: '', script_object: 'tools/1.0', script_object_sha256: wrong });
    const [b] = await waitForResults(broker, bad.request_id);
    expect(b?.exit_code).toBe(-1);
    expect(b?.stderr).toBe(`script_object tools/1.0: SHA-256 mismatch (expected ${wrong}, got ${sha})`);

    const missing = await run({ shell: 'sh', script: '', script_object: 'tools/none', script_object_sha256: wrong });
    const [m] = await waitForResults(broker, missing.request_id);
    expect(m?.stderr).toBe('script_object tools/none: object not found in store scripts');
  });

  it('a result the outbox rejects (disk full) is kept, retried with backoff and finished in the ledger only once queued', async () => {
    agent.resultFaults.fail = 3;
    const cmd = await run({ shell: 'sh', script: 'echo persistent' });
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r?.stdout).toBe('persistent\n');
    expect(agent.resultFaults.rejected).toBe(3);
    // The ledger says finished only after the enqueue resolved (which here is the publish itself).
    const record = await pollUntil('finished record', 5_000, async () => {
      const parsed = JSON.parse(await readFile(path.join(agent.dataDir, 'admission', `${cmd.request_id}.json`), 'utf8'));
      return parsed.state === 'finished' ? parsed : undefined;
    });
    expect(record).toMatchObject({ state: 'finished', queued: true, result: { result_id: r?.result_id } });
  });

  it('powershell through the executor runs the staged launcher with a fake pwsh on PATH', async () => {
    const bin = path.join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await symlink(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fake-pwsh'), path.join(bin, 'pwsh'));
    const log = path.join(dir, 'pwsh-argv.log');
    const saved = { PATH: process.env['PATH'], FAKE_PWSH_LOG: process.env['FAKE_PWSH_LOG'] };
    process.env['PATH'] = `${bin}:${saved.PATH}`;
    process.env['FAKE_PWSH_LOG'] = log;
    try {
      const cmd = await run({ shell: 'powershell', script: 'Write-Output ok' });
      const [r] = await waitForResults(broker, cmd.request_id);
      expect(r).toMatchObject({ exit_code: 7, stdout: 'fake pwsh ran\n' });
      const argv = (await readFile(log, 'utf8')).trimEnd().split('\n');
      expect(argv.slice(0, 3)).toEqual(['-NoProfile', '-NonInteractive', '-File']);
      expect((await readFile(`${log}.script`)).subarray(3).toString('utf8')).toBe('Write-Output ok');
    } finally {
      process.env['PATH'] = saved.PATH;
      if (saved.FAKE_PWSH_LOG === undefined) delete process.env['FAKE_PWSH_LOG'];
      else process.env['FAKE_PWSH_LOG'] = saved.FAKE_PWSH_LOG;
    }
  });
});
