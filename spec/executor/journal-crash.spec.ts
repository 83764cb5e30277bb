/**
 * A crash (failpoint `exit`: process.exit(1) with no cleanup, as kill -9 would leave it) at each new
 * durability point of the admission journal, in the real agent process with a real nats-server:
 * the command is never run twice and gets exactly one result.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { subjects } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { agentDir, spawnAgent, type AgentDir } from '../process/agent-process.js';
import { lineCount, rawResults, restartAndProbe, resultsFor, waitForResults } from './harness.js';

describe('admission journal: crash at each durability point', () => {
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
    ['ledger.journal_synced', 'after the pending record is fdatasynced, before the ack'],
    ['ledger.materialized', 'after the record files are written, before the journal is emptied'],
    ['executor.result_held', 'after the result is durable in the outbox (held), before the ledger says finished'],
    ['executor.result_recorded', 'after the ledger says finished and queued, before the held result is released'],
  ])(
    'crash at %s (%s) → run at most once, exactly one result',
    async (point) => {
      const pcId = `journal-crash-${point.replace(/\W/g, '-')}-${process.pid}`;
      const dir = await agentDir([broker.url], pcId);
      dirs.push(dir);
      const marker = path.join(dir.dir, 'ran');
      const cmd = draftCommand({ shell: 'sh', script: `echo x >> ${marker}` });
      // Waiting in EXEC before the agent starts: the replay consumer delivers it.
      await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));

      const crashing = spawnAgent(dir, { KANADE_FAILPOINTS: `${point}=exit` });
      const crashed = await crashing.exited;
      expect(crashed.code).toBe(1);

      const agent = spawnAgent(dir);
      try {
        const [r] = await waitForResults(broker, cmd.request_id, 1, 40_000);
        const ran = await lineCount(marker);
        expect(ran).toBeLessThanOrEqual(1);
        // A real exit means it ran once; 121 means it was launching when the agent died.
        if (r?.exit_code === 0) expect(ran).toBe(1);
        else expect(r?.exit_code).toBe(121);
      } finally {
        agent.kill('SIGTERM');
        await agent.exited;
      }
      // Once more: the ledger keeps it from running or reporting again.
      await restartAndProbe(broker, dir);
      expect(await lineCount(marker)).toBeLessThanOrEqual(1);
      // One outcome per result_id (issue #17 item 2): every copy in RESULTS is byte-identical.
      const copies = await rawResults(broker, cmd.request_id);
      expect(copies.length).toBeGreaterThanOrEqual(1);
      expect(new Set(copies).size).toBe(1);
      expect(await resultsFor(broker, cmd.request_id)).toHaveLength(copies.length);
    },
    150_000,
  );
});
