/** Exactly-once admission (§7): live + replay, re-publish, restart, conflict, ledger failure, startup recovery. */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { openAdmissionLedger } from '../../actors/exec/admission-ledger.js';
import { uuidV4 } from '../../actors/ids.js';
import { encodeCommand, formatRfc3339, replayDurableName, subjects } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil, removeDir, resultsFor, startExecutor, waitForResults } from './harness.js';

const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

describe('admission', () => {
  let broker: Broker;
  let dir: string;
  beforeAll(async () => {
    broker = await startBroker();
    dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-adm-'));
  });
  afterAll(async () => {
    await broker?.stop();
    await removeDir(dir);
  });

  it('the same command live + replay + re-published + after a restart runs once', async () => {
    const dataDir = path.join(dir, 'd1');
    const marker = path.join(dir, 'runs1');
    const pcId = 'PC-ADM-1';
    let agent = await startExecutor(broker, { pcId, dataDir });
    const cmd = draftCommand({ shell: 'sh', script: `echo x >> ${marker}` });
    const body = commandBytes(cmd);
    await publishCommand(broker.nc, subjects.commandsPc(pcId), body);
    await waitForResults(broker, cmd.request_id);
    // Live and replay both delivered it; the second copy is a duplicate.
    await pollUntil('duplicate logged', 5_000, () =>
      agent.logs.some((l) => l.msg.startsWith('duplicate command') && l['request_id'] === cmd.request_id),
    );
    await publishCommand(broker.nc, subjects.commandsAll, body);
    await pollUntil(
      're-publish deduped',
      5_000,
      () => agent.logs.filter((l) => l.msg.startsWith('duplicate command') && l['request_id'] === cmd.request_id).length >= 3,
    );
    // A duplicate delivery is routine (live + replay): debug, never info (issue #14).
    const PINO_DEBUG = 20;
    expect(agent.logs.filter((l) => l.msg.startsWith('duplicate command')).every((l) => l.level === PINO_DEBUG)).toBe(true);
    await agent.stop();
    // A restart with the same data dir: the replay consumer redelivers nothing new, the ledger remembers.
    agent = await startExecutor(broker, { pcId, dataDir });
    await publishCommand(broker.nc, subjects.commandsPc(pcId), body);
    await pollUntil('dedup after restart', 5_000, () =>
      agent.logs.some((l) => l.msg.startsWith('duplicate command') && l['request_id'] === cmd.request_id),
    );
    await agent.stop();
    expect(await lines(marker)).toBe(1);
    expect(await resultsFor(broker, cmd.request_id)).toHaveLength(1);
    const record = JSON.parse(await readFile(path.join(dataDir, 'admission', `${cmd.request_id}.json`), 'utf8'));
    expect(record).toMatchObject({
      request_id: cmd.request_id,
      state: 'finished',
      queued: true,
      body_base64: Buffer.from(body).toString('base64'),
    });
    expect(record.result.result_id).toBe(record.result_id);
  });

  it('agent stopped, command published, agent started → the replay consumer runs it once', async () => {
    const pcId = 'PC-ADM-2';
    const dataDir = path.join(dir, 'd2');
    const marker = path.join(dir, 'runs2');
    // First start creates the durable, then the agent goes away.
    const first = await startExecutor(broker, { pcId, dataDir });
    await first.stop();
    const cmd = draftCommand({ shell: 'sh', script: `echo x >> ${marker}` });
    await publishCommand(broker.nc, subjects.commandsPc(pcId), commandBytes(cmd));
    const agent = await startExecutor(broker, { pcId, dataDir });
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r?.exit_code).toBe(0);
    await agent.stop();
    expect(await lines(marker)).toBe(1);
    const info = await broker.jsm.consumers.info('EXEC', replayDurableName(pcId));
    expect(info.config.ack_policy).toBe('explicit');
    expect(info.config.deliver_policy).toBe('last_per_subject');
    expect(info.config.filter_subject).toBe('commands.>');
  });

  it('same request_id with different bytes is a conflict: not run, command_admission_conflict', async () => {
    const agent = await startExecutor(broker, { dataDir: path.join(dir, 'd3') });
    const marker = path.join(dir, 'runs3');
    const cmd = draftCommand({ shell: 'sh', script: `echo a >> ${marker}` });
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(cmd));
    await waitForResults(broker, cmd.request_id);
    const evil = { ...cmd, script: `echo b >> ${marker}` };
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(evil));
    const obs = await pollUntil('conflict obs', 5_000, () => agent.obs.find((e) => e.kind === 'command_admission_conflict'));
    expect(obs).toMatchObject({
      pc_id: agent.pcId,
      source: 'command_admission',
      payload: { request_id: cmd.request_id, subject: subjects.commandsPc(agent.pcId) },
    });
    await agent.stop();
    expect(await readFile(marker, 'utf8')).toBe('a\n');
  });

  it('a ledger write failure does not ack (redelivery) and raises command_admission_unavailable', async () => {
    const agent = await startExecutor(broker, { dataDir: path.join(dir, 'd4'), failpoints: 'admission.write=throw-once' });
    const cmd = draftCommand({ shell: 'sh', script: 'echo later' });
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(cmd));
    const obs = await pollUntil('unavailable obs', 5_000, () => agent.obs.find((e) => e.kind === 'command_admission_unavailable'));
    expect(obs.source).toBe('command_admission');
    // The other copy (live or replay) is admitted after the failure; one result in all.
    const [r] = await waitForResults(broker, cmd.request_id);
    expect(r?.stdout).toBe('later\n');
    await agent.stop();
    expect(await resultsFor(broker, cmd.request_id)).toHaveLength(1);
  });

  it('startup recovery: launching → one exit-121 result with the stored result_id; pending → runs; finished-unqueued → re-queued', async () => {
    const pcId = 'PC-ADM-5';
    const dataDir = path.join(dir, 'd5');
    const ledger = await openAdmissionLedger(dataDir);
    const now = Date.now();
    const mk = (script: string) => draftCommand({ shell: 'sh', script });
    const launching = mk('sleep 100');
    const pending = mk('echo pending-ran');
    const finished = mk('echo finished');
    const ids = { launching: uuidV4(), pending: uuidV4(), finished: uuidV4() };
    for (const [name, cmd] of [
      ['launching', launching],
      ['pending', pending],
      ['finished', finished],
    ] as const) {
      const admission = await ledger.admit({
        requestId: cmd.request_id,
        body: new TextEncoder().encode(JSON.stringify(encodeCommand(cmd))),
        headers: {},
        subject: subjects.commandsPc(pcId),
        receivedAt: formatRfc3339(now),
        resultId: ids[name],
        nowMs: now,
      });
      if (admission.kind !== 'admitted') throw new Error('not admitted');
      if (name === 'launching') await ledger.update(admission.record, { state: 'launching' });
      if (name === 'finished') {
        await ledger.update(admission.record, {
          state: 'finished',
          queued: false,
          result: {
            result_id: ids.finished,
            request_id: cmd.request_id,
            pc_id: pcId,
            manifest_id: cmd.id,
            exit_code: 0,
            skipped: false,
            stdout: 'stored\n',
            stderr: '',
            started_at: formatRfc3339(now),
            finished_at: formatRfc3339(now),
          },
        });
      }
    }
    // This test's ledger stands in for the previous process: finish its writes before the executor opens the directory.
    await ledger.flush();
    let agent = await startExecutor(broker, { pcId, dataDir });
    const [l] = await waitForResults(broker, launching.request_id);
    expect(l).toMatchObject({
      result_id: ids.launching,
      exit_code: 121,
      skipped: false,
      stdout: '',
      stderr: 'agent restarted during execution; outcome unknown',
    });
    const [p] = await waitForResults(broker, pending.request_id);
    expect(p).toMatchObject({ result_id: ids.pending, exit_code: 0, stdout: 'pending-ran\n' });
    const [f] = await waitForResults(broker, finished.request_id);
    expect(f).toMatchObject({ result_id: ids.finished, stdout: 'stored\n' });
    await agent.stop();
    // Once: a second start reports nothing again.
    agent = await startExecutor(broker, { pcId, dataDir });
    await agent.stop();
    for (const cmd of [launching, pending, finished]) {
      const copies = await resultsFor(broker, cmd.request_id);
      expect(copies, JSON.stringify(copies)).toHaveLength(1);
    }
    expect((await readdir(path.join(dataDir, 'admission'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
