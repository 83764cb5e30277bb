/**
 * Issue #17 items 3 and 4 against the real agent process and a real broker:
 * - a FIFO named `*.json` in the outbox (and in the admission ledger) never stalls delivery; it is
 *   quarantined unopened with the right reason, and `status` shows it;
 * - SIGTERM with 5 running commands: all 5 `killed: agent shutting down` results are in RESULTS
 *   before the process exits (contract §8.4: queue, drain, exit within 10 s).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { subjects } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { agentDir, readStatus, spawnAgent, type AgentDir, type AgentProcess } from '../process/agent-process.js';
import { alive, pollUntil, resultsFor, waitForResults } from '../executor/harness.js';

describe('outbox in the agent process', () => {
  let broker: Broker;
  let dir: AgentDir;
  let agent: AgentProcess | undefined;
  const pcId = `outbox-proc-${process.pid}`;
  const leftovers: number[] = [];

  beforeAll(async () => {
    broker = await startBroker();
    dir = await agentDir([broker.url], pcId);
    // Room for 5 commands at once (the default is one per CPU).
    const config = await broker.kvm.open('agent_config');
    await config.put(`pcs.${pcId}`, JSON.stringify({ max_local_concurrent: 8 }));
  });
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await agent?.exited;
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await broker?.stop();
    await dir?.remove();
  });

  it('a FIFO named *.json in outbox/ and admission/ → results still delivered, the FIFO quarantined as a FIFO, status shows it', async () => {
    const outboxDir = path.join(dir.dataDir, 'outbox');
    await mkdir(outboxDir, { recursive: true });
    await mkdir(path.join(dir.dataDir, 'admission'), { recursive: true });
    // Oldest first: the FIFO sorts before every real result, so a blocking open would stall all.
    execFileSync('mkfifo', ['-m', '600', path.join(outboxDir, '00000000-fifo.json')]);
    execFileSync('mkfifo', ['-m', '600', path.join(dir.dataDir, 'admission', '00000000-fifo.json')]);
    agent = spawnAgent(dir);
    // Ready once a probe round-trips (EXEC keeps one message per subject, so commands published
    // before intake is on would replace each other).
    const probe = draftCommand({ shell: 'sh', script: 'true' });
    await publishCommand(broker.nc, subjects.commandsAll, commandBytes(probe));
    await waitForResults(broker, probe.request_id, 1, 30_000);

    const commands = Array.from({ length: 5 }, (_, i) => draftCommand({ shell: 'sh', script: `echo fifo-${i}` }));
    for (const cmd of commands) await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));
    for (const cmd of commands) {
      const [r] = await waitForResults(broker, cmd.request_id, 1, 30_000).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${agent?.output.stdout.slice(-4000)}`);
      });
      expect(r?.exit_code).toBe(0);
    }

    const stuck = path.join(outboxDir, 'stuck');
    const reason = await pollUntil('FIFO quarantined', 15_000, async () =>
      readFile(path.join(stuck, '00000000-fifo.json.reason'), 'utf8').catch(() => undefined),
    );
    expect(reason).toMatch(/a FIFO \(named pipe\), not a regular file \(never opened\)/);
    expect(await readdir(outboxDir)).not.toContain('00000000-fifo.json');
    const row = await pollUntil('outbox-results status', 10_000, async () => {
      const report = await readStatus(dir.socket);
      const r = report?.children.find((c) => c.id === 'outbox-results');
      return (r?.status as { stuck?: number } | undefined)?.stuck === 1 ? r : undefined;
    });
    expect(row.status).toMatchObject({ stuck: 1, stalled_ms: 0 });
    expect(agent.output.stdout).toMatch(/"file":"00000000-fifo.json".*a FIFO/);
    // The ledger walk skipped its FIFO with a log line instead of blocking the start.
    expect(agent.output.stdout).toMatch(/00000000-fifo.json.*FIFO|FIFO.*00000000-fifo.json/);
  });

  it('SIGTERM with 5 running commands → 5 `killed: agent shutting down` results in RESULTS before the process exits', async () => {
    expect(agent).toBeDefined();
    const pidFiles = Array.from({ length: 5 }, (_, i) => path.join(dir.dir, `term-${i}.pid`));
    const commands = pidFiles.map((file) => draftCommand({ shell: 'sh', script: `echo $$ > ${file}; sleep 300`, timeout_secs: 600 }));
    for (const cmd of commands) await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));
    const pids = await pollUntil('5 scripts running', 20_000, async () => {
      const read = await Promise.all(pidFiles.map(async (f) => Number((await readFile(f, 'utf8').catch(() => '')).trim()) || undefined));
      return read.every((p) => p !== undefined) ? (read as number[]) : undefined;
    });
    leftovers.push(...pids);

    agent!.kill('SIGTERM');
    const exit = await agent!.exited;
    agent = undefined;
    expect(exit.code).toBe(0);
    // Nothing restarted the agent: whatever is in RESULTS now was published before it exited.
    for (const cmd of commands) {
      const published = await resultsFor(broker, cmd.request_id);
      expect(published, cmd.request_id).toHaveLength(1);
      expect(published[0]).toMatchObject({ exit_code: -1, skipped: false, stderr: 'killed: agent shutting down' });
    }
    expect((await readdir(path.join(dir.dataDir, 'outbox'))).filter((n) => n.endsWith('.json'))).toEqual([]);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});
