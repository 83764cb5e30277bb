/**
 * The executor inside the real agent process (`node dist/bin/kanade-agent.js run`): restart and
 * SIGKILL semantics of the admission ledger, graceful shutdown results, and 20 MiB of output
 * offloaded by the real results outbox.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { MAX_CAPTURE_BYTES, OBJ_RESULT_OUTPUT, resultOutputKey, subjects } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { agentDir, readStatus, spawnAgent, type AgentDir, type AgentProcess } from '../process/agent-process.js';
import { alive, pollUntil, resultsFor, waitForResults } from './harness.js';

const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

describe('executor in the agent process', () => {
  let broker: Broker;
  let dir: AgentDir;
  let agent: AgentProcess | undefined;
  const pcId = `exec-proc-${process.pid}`;
  const leftovers: number[] = [];

  const start = async () => {
    agent = spawnAgent(dir);
    // Ready once a probe command round-trips (intake and the results outbox are both up). The probe
    // goes to commands.all: EXEC keeps one message per subject, so a probe on commands.pc.<pc_id>
    // would replace a command published while the agent was away.
    const probe = draftCommand({ shell: 'sh', script: 'true' });
    await publishCommand(broker.nc, subjects.commandsAll, commandBytes(probe));
    await waitForResults(broker, probe.request_id, 1, 30_000);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    agent?.kill(signal);
    await agent?.exited;
    agent = undefined;
  };

  beforeAll(async () => {
    broker = await startBroker();
    dir = await agentDir([broker.url], pcId);
    await start();
  });
  afterAll(async () => {
    await stop().catch(() => undefined);
    for (const pid of leftovers) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await broker?.stop();
    await dir?.remove();
  });

  it('reports the executor in `status` (intake on, replay on, counts, slots)', async () => {
    const report = await pollUntil('executor status', 10_000, async () => {
      const r = await readStatus(dir.socket);
      const row = r?.children.find((c) => c.id === 'executor');
      const status = row?.status as { replay?: boolean; running?: unknown[] } | null | undefined;
      // The probe's run may still be recording `finished` right after its result was published.
      return status?.replay && status.running?.length === 0 ? row : undefined;
    });
    expect(report.status).toMatchObject({ intake: 'on', replay: true, running: [] });
    expect((report.status as { admitted: number }).admitted).toBeGreaterThanOrEqual(1);
  });

  it('agent stopped, command published, agent started → it runs once', async () => {
    await stop();
    const marker = path.join(dir.dir, 'while-away');
    const cmd = draftCommand({ shell: 'sh', script: `echo x >> ${marker}` });
    await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));
    await start();
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r?.exit_code).toBe(0);
    // Restart once more: the ledger (and the acked durable) keep it from running again.
    await stop();
    await start();
    expect(await lines(marker)).toBe(1);
    expect(await resultsFor(broker, cmd.request_id)).toHaveLength(1);
  });

  it('SIGKILL during a long run → exactly one exit-121 result with the admission result_id after restart', async () => {
    const pidFile = path.join(dir.dir, 'long.pid');
    const cmd = draftCommand({ shell: 'sh', script: `echo $$ > ${pidFile}; sleep 300`, exec_id: 'long-run', timeout_secs: 600 });
    await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));
    const ledgerFile = path.join(dir.dataDir, 'admission', `${cmd.request_id}.json`);
    const record = await pollUntil('launching record', 15_000, async () => {
      const text = await readFile(ledgerFile, 'utf8').catch(() => '');
      const parsed = text ? JSON.parse(text) : undefined;
      return parsed?.state === 'launching' ? parsed : undefined;
    });
    const pid = await pollUntil(
      'script pid',
      10_000,
      async () => Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || undefined,
    );
    leftovers.push(pid);
    await stop('SIGKILL');
    await start();
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r).toMatchObject({
      result_id: record.result_id,
      request_id: cmd.request_id,
      pc_id: pcId,
      exec_id: 'long-run',
      exit_code: 121,
      skipped: false,
      stdout: '',
      stderr: 'agent restarted during execution; outcome unknown',
    });
    await stop();
    await start();
    expect(await resultsFor(broker, cmd.request_id)).toHaveLength(1);
  });

  it('SIGTERM during a run kills the tree and queues -1 "killed: agent shutting down"', async () => {
    const pidFile = path.join(dir.dir, 'term.pid');
    const cmd = draftCommand({ shell: 'sh', script: `sleep 300 & echo $! > ${pidFile}; wait`, timeout_secs: 600 });
    await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));
    const pid = await pollUntil(
      'grandchild pid',
      15_000,
      async () => Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || undefined,
    );
    await stop('SIGTERM');
    await pollUntil('grandchild gone', 7_000, () => !alive(pid));
    // Published during the drain, or from the outbox at the next start.
    const published = await resultsFor(broker, cmd.request_id);
    if (published.length === 0) await start();
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r).toMatchObject({ exit_code: -1, skipped: false, stderr: 'killed: agent shutting down' });
    if (agent === undefined) await start();
  });

  it('20 MiB of output is capped with the marker and offloaded to result_output', async () => {
    const total = 20 * 1024 * 1024;
    const cmd = draftCommand({ shell: 'sh', script: `head -c ${total} /dev/zero | tr '\\0' z` });
    await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));
    const [r] = await waitForResults(broker, cmd.request_id, 1, 60_000);
    expect(r?.stdout).toBe('');
    expect(r?.stdout_object).toBe(resultOutputKey(cmd.request_id, pcId, 'stdout'));
    const store = await broker.objm.open(OBJ_RESULT_OUTPUT);
    const text = Buffer.from((await store.getBlob(r!.stdout_object!))!).toString('utf8');
    expect(text).toContain(`[kanade] output truncated: ${total} bytes written, ${total - MAX_CAPTURE_BYTES} dropped`);
    expect(text).toContain('[kanade] write large output to a file instead of stdout/stderr.\n');
    expect(text.replace(/\n\[kanade\][^\n]*\n\[kanade\][^\n]*\n/, '')).toBe('z'.repeat(MAX_CAPTURE_BYTES));
  });
});
