/**
 * Issue #17 items 1 and 5, #13 item 6, against the real agent process and a real nats-server:
 * every delivered command is admitted and answered although the broker stops during the burst,
 * and a deeply nested body (live and replay copy) is acked once with a clear log line.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { replayDurableName, STREAM_EXEC, subjects } from '../../contract/index.js';
import type { IntakeStats } from '../../actors/exec/exec-runtime.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { agentDir, readStatus, spawnAgent, type AgentDir, type AgentProcess } from '../process/agent-process.js';
import { pollUntil, resultsFor, waitForResults } from './harness.js';

const BURST = 150;
/** Each admission batch (64 messages) waits 1 s, so the broker stops while most of the burst is still queued. */
const SLOW_ADMISSION = 'intake.batch=sleep1000';

describe('intake reliability in the agent process', () => {
  let broker: Broker;
  let dir: AgentDir;
  let agent: AgentProcess;
  const pcId = `intake-rel-${process.pid}`;

  const intakeQueue = async () => {
    const report = await readStatus(dir.socket);
    const row = report?.children.find((c) => c.id === 'executor');
    return (row?.status as { intake_queue?: IntakeStats | null } | null | undefined)?.intake_queue ?? undefined;
  };
  const ready = async () => {
    const probe = draftCommand({ shell: 'sh', script: 'true' });
    await publishCommand(broker.nc, subjects.commandsAll, commandBytes(probe));
    await waitForResults(broker, probe.request_id, 1, 30_000);
  };

  beforeAll(async () => {
    broker = await startBroker();
    dir = await agentDir([broker.url], pcId);
    agent = spawnAgent(dir, { KANADE_FAILPOINTS: SLOW_ADMISSION });
    await ready();
  });
  afterAll(async () => {
    agent?.kill('SIGTERM');
    await agent?.exited;
    await broker?.stop();
    await dir?.remove();
  });

  it('a deeply nested request_id (live and replay copy) is acked once, logged with size and reason, and costs the agent nothing', async () => {
    const depth = 100_000;
    const body = `{"request_id":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const ack = await broker.js.publish(subjects.commandsPc(pcId), body);
    const consumer = await pollUntil('replay copy acked', 20_000, async () => {
      const info = await broker.jsm.consumers.info(STREAM_EXEC, replayDurableName(pcId));
      return info.ack_floor.stream_seq >= ack.seq && info.num_ack_pending === 0 ? info : undefined;
    });
    expect(consumer.num_redelivered).toBe(0);
    const logged = () =>
      agent.output.stdout
        .split('\n')
        .filter(
          (line) =>
            line.includes('undecodable command body') &&
            line.includes('nested deeper than 32 levels') &&
            line.includes(`"bytes":${body.length}`),
        );
    const lines = await pollUntil('log line for both copies', 10_000, () => (logged().length >= 2 ? logged() : undefined));
    expect(lines.some((l) => l.includes('"source":"replay"'))).toBe(true);
    expect(lines.some((l) => l.includes('"source":"live"'))).toBe(true);
    expect(agent.output.stdout).not.toContain('Maximum call stack');
    // The agent still answers.
    await ready();
  });

  it('ledger and obs outbox both unable to write → the refusal still reaches OBS_EVENTS and status says why', async () => {
    const brokenDir = await agentDir([broker.url], `${pcId}-nodisk`);
    const broken = spawnAgent(brokenDir, { KANADE_FAILPOINTS: 'admission.write=throw,obs.enqueue=throw' });
    try {
      const cmd = draftCommand({ shell: 'sh', script: 'true' });
      const obsSubject = subjects.obs(`${pcId}-nodisk`);
      // Published until the agent's intake is on (live copies before that are not received).
      const event = await pollUntil(
        'command_admission_unavailable in OBS_EVENTS',
        40_000,
        async () => {
          broker.nc.publish(subjects.commandsPc(`${pcId}-nodisk`), commandBytes(cmd));
          const m = await broker.jsm.streams.getMessage('OBS_EVENTS', { last_by_subj: obsSubject }).catch(() => null);
          const parsed =
            m === null
              ? undefined
              : (JSON.parse(Buffer.from(m.data).toString('utf8')) as { kind: string; payload: { request_id: string; reason: string } });
          // The replayed commands.all probe of the first test is refused too: wait for this command's own event.
          return parsed?.kind === 'command_admission_unavailable' && parsed.payload.request_id === cmd.request_id ? parsed : undefined;
        },
        500,
      );
      expect(event.payload).toMatchObject({ request_id: cmd.request_id, reason: expect.stringContaining('failpoint admission.write') });
      const report = await pollUntil('status names the admission error', 10_000, async () => {
        const r = await readStatus(brokenDir.socket);
        const q = (r?.children.find((c) => c.id === 'executor')?.status as { intake_queue?: IntakeStats | null } | undefined)?.intake_queue;
        return q?.admission_error ? q : undefined;
      });
      expect(report.admission_error).toContain('the admission ledger cannot write: failpoint admission.write triggered');
    } finally {
      broken.kill('SIGTERM');
      await broken.exited;
      await brokenDir.remove();
    }
  });

  it(`a burst of ${BURST} commands, broker stopped while they wait for admission → every one is admitted and answered once`, async () => {
    const before = (await intakeQueue())?.received ?? 0;
    const publisher = await broker.connect();
    const commands = Array.from({ length: BURST }, (_, i) => draftCommand({ shell: 'sh', script: `exit ${i % 7}` }));
    for (const cmd of commands) publisher.publish(subjects.commandsPc(pcId), commandBytes(cmd));
    await publisher.flush();
    // Wait until the agent has every live copy in hand, then take the broker away.
    const atStop = await pollUntil('all delivered to the agent', 20_000, async () => {
      const q = await intakeQueue();
      return q !== undefined && q.received - before >= BURST ? q : undefined;
    });
    expect(atStop.queued).toBeGreaterThan(0);
    await broker.server.kill();
    // Admission goes on without the broker: every command gets its ledger record.
    const ledger = path.join(dir.dataDir, 'admission');
    await pollUntil('all admitted while the broker is away', 60_000, async () => {
      const names = new Set(await readdir(ledger));
      return commands.every((c) => names.has(`${c.request_id}.json`)) || undefined;
    });
    await broker.server.restart();
    for (const cmd of commands) {
      const [r] = await waitForResults(broker, cmd.request_id, 1, 60_000);
      expect(r?.exit_code).toBe(Number(cmd.script.slice(5)));
    }
    // Exactly one result each (no copy admitted twice).
    for (const cmd of commands.slice(0, 20)) expect(await resultsFor(broker, cmd.request_id)).toHaveLength(1);
    expect(atStop.refused_queue_full).toBe(0);
  }, 180_000);
});
