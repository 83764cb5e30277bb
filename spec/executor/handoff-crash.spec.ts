/**
 * A kill -9 (failpoint `kill`: SIGKILL to itself, nothing after it runs) at each
 * durability point of the fast command path (issue #15 item 1), in the real agent process with a
 * real nats-server: a command admitted straight as `launching` that dies before its spawn is
 * reported once as exit 121 and never run; a result journaled and handed to the outbox without
 * fsync is published exactly as it ran, however many copies reach RESULTS.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { subjects } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { agentDir, spawnAgent, type AgentDir } from '../process/agent-process.js';
import { lineCount, rawResults, restartAndProbe, resultsFor, waitForResults } from './harness.js';

describe('fast command path: crash at each durability point', () => {
  let broker: Broker;
  const dirs: AgentDir[] = [];
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    await broker?.stop();
    for (const dir of dirs) await dir.remove();
  });

  it.each([
    ['executor.launching', 121, 'admitted as launching (gates passed, slot free), before the spawn'],
    ['executor.result_enqueued', 0, 'the result journaled and written to the outbox without fsync, before the fsyncs'],
    ['executor.result_synced', 0, 'the outbox file and directory fsynced, before the ledger says queued'],
  ])(
    'crash at %s → exit %i, run at most once, one outcome',
    async (point, exitCode) => {
      const pcId = `handoff-crash-${point.replace(/\W/g, '-')}-${process.pid}`;
      const dir = await agentDir([broker.url], pcId);
      dirs.push(dir);
      const marker = path.join(dir.dir, 'ran');
      const cmd = draftCommand({ shell: 'sh', script: `echo x >> ${marker}; echo done` });
      // Waiting in EXEC before the agent starts: the replay consumer delivers it once connected.
      await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));

      const crashing = spawnAgent(dir, { KANADE_FAILPOINTS: `${point}=kill` });
      const crashed = await crashing.exited;
      expect(crashed.signal).toBe('SIGKILL');
      // Launching at admission: one journal record, no `pending` before it, so the crash before the
      // spawn leaves a record that recovery can only answer with 121.
      expect(await lineCount(marker)).toBe(exitCode === 121 ? 0 : 1);
      if (exitCode === 121) {
        // Never a `pending` record for it (the journal may already be folded into the record file).
        const journal = (await readFile(path.join(dir.dataDir, 'admission', 'journal.log'), 'utf8').catch(() => ''))
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { request_id?: string; state?: string })
          .filter((r) => r.request_id === cmd.request_id);
        const file = await readFile(path.join(dir.dataDir, 'admission', `${cmd.request_id}.json`), 'utf8').catch(() => undefined);
        expect(journal.map((r) => r.state)).not.toContain('pending');
        expect(journal.at(-1)?.state ?? (JSON.parse(file ?? '{}') as { state?: string }).state).toBe('launching');
      }

      const agent = spawnAgent(dir);
      try {
        const [r] = await waitForResults(broker, cmd.request_id, 1, 40_000);
        expect(r?.exit_code).toBe(exitCode);
        if (exitCode === 0) expect(r?.stdout).toBe('done\n');
      } finally {
        agent.kill('SIGTERM');
        await agent.exited;
      }
      // Once more: the ledger keeps it from running or reporting a different outcome again.
      await restartAndProbe(broker, dir);
      expect(await lineCount(marker)).toBe(exitCode === 121 ? 0 : 1);
      // One outcome per result_id: every copy in RESULTS is byte-identical (a resend is allowed).
      const copies = await rawResults(broker, cmd.request_id);
      expect(copies.length).toBeGreaterThanOrEqual(1);
      expect(new Set(copies).size).toBe(1);
      expect(await resultsFor(broker, cmd.request_id)).toHaveLength(copies.length);
    },
    150_000,
  );
});
