/** Gates (§8.1), the concurrency budget (§8.2) and malformed payloads, against a real broker. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { KV_SCRIPT_CURRENT, KV_SCRIPT_STATUS, subjects, type Command } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil, resultsFor, startExecutor, waitForResults, type TestExecutor } from './harness.js';

describe('gates, budget and malformed input', () => {
  let broker: Broker;
  let agent: TestExecutor;
  let dir: string;
  beforeAll(async () => {
    broker = await startBroker();
    agent = await startExecutor(broker, { maxConcurrent: 2 });
    dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-gates-'));
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const setLimit = (n: number) =>
    agent.services.effectiveConfig.set({ ...agent.services.effectiveConfig.current(), max_local_concurrent: n });
  const run = async (draft: Partial<Command> & Pick<Command, 'shell' | 'script'>) => {
    const cmd = draftCommand(draft);
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(cmd));
    return cmd;
  };
  const expectSkip = (r: unknown, exitCode: number) => {
    expect(r).toMatchObject({ exit_code: exitCode, skipped: true, stdout: '' });
    const result = r as { started_at: string; finished_at: string };
    expect(result.started_at).toBe(result.finished_at);
  };

  it('version pin (124), revoke (126) and deadline (125) skip with the exact stderr; a matching pin runs', async () => {
    const current = await broker.kvm.open(KV_SCRIPT_CURRENT);
    const status = await broker.kvm.open(KV_SCRIPT_STATUS);
    await current.put('pinned', '2.0');
    await status.put('revoked-one', 'REVOKED');

    const pin = await run({ shell: 'sh', script: 'echo no', id: 'pinned', version: '1.0' });
    const [p] = await waitForResults(broker, pin.request_id);
    expectSkip(p, 124);
    expect(p?.stderr).toBe('skipped: version-pin mismatch — script_current[pinned] = 2.0, command brought 1.0');

    const same = await run({ shell: 'sh', script: 'echo pinned-ok', id: 'pinned', version: '2.0' });
    expect((await waitForResults(broker, same.request_id))[0]).toMatchObject({ exit_code: 0, skipped: false });

    const unchecked = await run({ shell: 'sh', script: 'echo unchecked', id: 'pinned', version: '1.0', staleness: { mode: 'unchecked' } });
    expect((await waitForResults(broker, unchecked.request_id))[0]).toMatchObject({ exit_code: 0 });

    const revoked = await run({ shell: 'sh', script: 'echo no', id: 'revoked-one' });
    const [r] = await waitForResults(broker, revoked.request_id);
    expectSkip(r, 126);
    expect(r?.stderr).toBe('skipped: command was revoked (script_status[revoked-one] = revoked)');

    const deadlineAt = new Date(Date.now() - 90_000).toISOString();
    const late = await run({ shell: 'sh', script: 'echo no', deadline_at: deadlineAt });
    const [d] = await waitForResults(broker, late.request_id);
    expectSkip(d, 125);
    expect(d?.stderr).toMatch(
      new RegExp(
        `^skipped: starting deadline expired 1m 3\\ds( \\d+ms)? ago \\(deadline ${deadlineAt.replace(/\./g, '\\.')}, received \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)$`,
      ),
    );
  });

  it('never more than max_local_concurrent (2) of 5 commands overlap, from recorded start/end stamps', async () => {
    const log = path.join(dir, 'overlap.log');
    const cmds: Command[] = [];
    for (let i = 0; i < 5; i += 1) {
      cmds.push(await run({ shell: 'sh', script: `echo "$(date +%s%N) 1" >> ${log}; sleep 0.3; echo "$(date +%s%N) -1" >> ${log}` }));
    }
    for (const cmd of cmds) await waitForResults(broker, cmd.request_id);
    const events = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(' ').map(BigInt) as [bigint, bigint]);
    expect(events).toHaveLength(10);
    // Ends sort before starts at the same instant: touching intervals do not overlap.
    events.sort((a, b) => (a[0] === b[0] ? Number(a[1] - b[1]) : a[0] < b[0] ? -1 : 1));
    let running = 0;
    let peak = 0;
    for (const [, delta] of events) {
      running += Number(delta);
      peak = Math.max(peak, running);
    }
    expect(peak).toBeLessThanOrEqual(2);
    expect(peak).toBeGreaterThanOrEqual(1);
  });

  it('waiting for a slot: kill ⇒ -1 "killed while waiting…", deadline ⇒ 125, bypass_local_limit skips the queue; no EventStarted', async () => {
    setLimit(1);
    const blocker = await run({ shell: 'sh', script: 'sleep 2', exec_id: 'blocker' });
    await pollUntil('blocker started', 5_000, () => agent.events.find((e) => e.request_id === blocker.request_id));
    const killed = await run({ shell: 'sh', script: 'echo no', exec_id: 'queued-kill' });
    const late = await run({ shell: 'sh', script: 'echo no', deadline_at: new Date(Date.now() + 700).toISOString() });
    const bypass = await run({ shell: 'sh', script: 'echo bypass', bypass_local_limit: true });
    expect((await waitForResults(broker, bypass.request_id))[0]).toMatchObject({ exit_code: 0, stdout: 'bypass\n' });
    await pollUntil('queued for a slot', 5_000, () =>
      Object.values(agent.actor.getSnapshot().context.runs).some(
        (run) =>
          run.getSnapshot().context.command.request_id === killed.request_id && run.getSnapshot().matches({ armed: 'waitingForSlot' }),
      ),
    );
    // The kill subscription's flush may still be on its way to the server: any payload kills and
    // the switch latches, so repeat until the result is there.
    const [k] = await pollUntil('killed result', 10_000, async () => {
      broker.nc.publish(subjects.kill('queued-kill'));
      const got = await resultsFor(broker, killed.request_id);
      return got.length > 0 ? got : undefined;
    });
    expect(k).toMatchObject({ exit_code: -1, skipped: false, stderr: 'killed while waiting for local job slot' });
    const [d] = await waitForResults(broker, late.request_id);
    expectSkip(d, 125);
    expect(d?.stderr).toBe('skipped: starting deadline expired while waiting for local job slot');
    await waitForResults(broker, blocker.request_id);
    expect(agent.events.some((e) => e.request_id === killed.request_id)).toBe(false);
    setLimit(2);
  });

  it('queued-run cap (2): with the one slot busy and two runs waiting, the next command is exit -1 "refused: local queue full" and never runs', async () => {
    const capped = await startExecutor(broker, { maxConcurrent: 1, maxQueuedRuns: 2 });
    try {
      const send = async (draft: Partial<Command> & Pick<Command, 'shell' | 'script'>) => {
        const cmd = draftCommand(draft);
        await publishCommand(broker.nc, subjects.commandsPc(capped.pcId), commandBytes(cmd));
        return cmd;
      };
      const go = path.join(dir, 'queue-full-go');
      const blocker = await send({
        shell: 'sh',
        script: `while [ ! -e ${go} ]; do sleep 0.1; done`,
        exec_id: 'qcap-blocker',
        timeout_secs: 60,
      });
      await pollUntil('blocker started', 5_000, () => capped.events.find((e) => e.request_id === blocker.request_id));
      const waiting = [await send({ shell: 'sh', script: 'echo a' }), await send({ shell: 'sh', script: 'echo b' })];
      await pollUntil(
        'two runs queued for the slot',
        5_000,
        () =>
          Object.values(capped.actor.getSnapshot().context.runs).filter((run) => run.getSnapshot().matches({ armed: 'waitingForSlot' }))
            .length === 2,
      );
      const marker = path.join(dir, 'queue-full-ran');
      const refused = await send({ shell: 'sh', script: `touch ${marker}`, exec_id: 'qcap-refused' });
      const [r] = await waitForResults(broker, refused.request_id);
      expect(r).toMatchObject({
        exit_code: -1,
        skipped: false,
        stdout: '',
        stderr: 'refused: local queue full',
        request_id: refused.request_id,
      });
      expect(capped.actor.getSnapshot().context.status.refused_local_queue_full).toBe(1);
      expect(capped.events.some((e) => e.request_id === refused.request_id)).toBe(false);
      await expect(readFile(marker)).rejects.toThrow(/ENOENT/);
      // The waiting runs were not displaced: once the slot frees, they run.
      await writeFile(go, '');
      for (const cmd of waiting) expect((await waitForResults(broker, cmd.request_id))[0]).toMatchObject({ exit_code: 0 });
      expect(await resultsFor(broker, refused.request_id)).toHaveLength(1);
    } finally {
      await capped.stop();
    }
  });

  it('strict staleness (127) is checked again after the slot wait, from the broker history', async () => {
    setLimit(1);
    const blocker = await run({ shell: 'sh', script: 'sleep 1' });
    await pollUntil('blocker running', 5_000, () => agent.actor.getSnapshot().context.status.running.includes(blocker.request_id));
    const strict = await run({
      shell: 'sh',
      script: 'echo no',
      staleness: { mode: 'strict', max_cache_age: '1m', max_cache_age_ms: 60_000 },
    });
    await pollUntil('strict admitted', 5_000, () => agent.actor.getSnapshot().context.status.running.includes(strict.request_id));
    agent.hub.disconnected(Date.now() - 120_000, true);
    // The result is decided while disconnected; it is delivered once the hub says connected again.
    await pollUntil('strict run decided', 10_000, () =>
      Object.values(agent.actor.getSnapshot().context.runs).some(
        (run) => run.getSnapshot().context.command.request_id === strict.request_id && run.getSnapshot().matches('finishing'),
      ),
    );
    agent.hub.connected(agent.nc, broker.url, Date.now());
    const [s] = await waitForResults(broker, strict.request_id);
    expectSkip(s, 127);
    expect(s?.stderr).toMatch(
      /^skipped: staleness policy \(mode=strict\) exceeded — agent has been disconnected for 2m( \d+s)?( \d+ms)?, max allowed 1m$/,
    );
    await waitForResults(broker, blocker.request_id);
    setLimit(2);
    await pollUntil('intake back on', 5_000, () => agent.actor.getSnapshot().context.status.intake === 'on');
  });

  it('malformed payloads are logged and dropped; nothing runs; the agent stays alive', async () => {
    const marker = path.join(dir, 'malformed-ran');
    const good = draftCommand({ shell: 'sh', script: `echo x >> ${marker}` });
    const bodies: Array<[string, Uint8Array]> = [
      ['garbage', new Uint8Array([0xff, 0x00, 0x7b, 0x01])],
      ['not json', new TextEncoder().encode('{"id": ')],
      [
        'wrong types',
        new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(commandBytes(good))), timeout_secs: 'soon' })),
      ],
      [
        'unknown shell',
        new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(commandBytes(good))), shell: 'bash' })),
      ],
      ['array', new TextEncoder().encode('[1,2]')],
    ];
    for (const [, body] of bodies) await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), body);
    // Live and replay copies both arrive, so wait for every body's distinct reason, not a count of lines.
    const undecodableReasons = (): string[] => [
      ...new Set(agent.logs.filter((l) => l.msg.startsWith('undecodable command')).map((l) => String(l['reason']))),
    ];
    await pollUntil('undecodable logged', 5_000, () => undecodableReasons().length >= bodies.length);
    const reasons = undecodableReasons();
    expect(reasons.some((r) => r.includes('timeout_secs'))).toBe(true);
    expect(reasons.some((r) => r.includes('shell'))).toBe(true);
    // 2 MB: more than NATS' default max_payload, so the client cannot even publish it; the pipeline
    // refuses such a body unread when one arrives anyway.
    const huge = new Uint8Array(2 * 1024 * 1024).fill(0x20);
    expect(() => broker.nc.publish(subjects.commandsPc(agent.pcId), huge)).toThrow();
    const runtime = agent.actor.getSnapshot().context.runtime!;
    const decision = await runtime.pipeline({
      subject: subjects.commandsPc(agent.pcId),
      data: huge,
      headers: {},
      source: 'live',
      receivedAtMs: Date.now(),
    });
    expect(decision).toEqual({ ack: true, outcome: 'undecodable' });
    // Still alive: a good command runs, and only it.
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(good));
    await waitForResults(broker, good.request_id);
    expect(await readFile(marker, 'utf8')).toBe('x\n');
    expect(agent.actor.getSnapshot().status).toBe('active');
    expect(await resultsFor(broker, good.request_id)).toHaveLength(1);
  });
});
