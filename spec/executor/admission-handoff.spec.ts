/**
 * Regression: a command admitted while the intake is being stopped by `broker.disconnected` (the
 * ledger write of `admit` still in flight) is run exactly once, not left `pending` until a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import type { Failpoints } from '../../actors/failpoints.js';
import { subjects } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil, resultsFor, startExecutor, waitForResults, type TestExecutor } from './harness.js';

describe('admission hand-off survives an intake stop', () => {
  let broker: Broker;
  let agent: TestExecutor | undefined;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
  });

  it('a disconnect during ledger.admit still runs the admitted command, exactly once', async () => {
    agent = await startExecutor(broker);
    const a = agent;
    // Pause the first ledger write (the `pending` record of admit) until released.
    let entered = false;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let gated = true;
    const original = a.services.failpoints;
    const pausing: Failpoints = {
      armed: original.armed,
      hitSync: (point) => original.hitSync(point),
      async hit(point) {
        if (point === 'admission.write' && gated) {
          gated = false;
          entered = true;
          await gate;
        }
        await original.hit(point);
      },
    };
    (a.services as { failpoints: Failpoints }).failpoints = pausing;

    const cmd = draftCommand({ shell: 'sh', script: 'echo handed-off', exec_id: 'exec-handoff' });
    await publishCommand(broker.nc, subjects.commandsPc(a.pcId), commandBytes(cmd));
    await pollUntil('admission in progress', 10_000, () => entered);

    // The intake is stopped mid-admission, then re-entered (a reconnect).
    a.hub.disconnected(Date.now(), true);
    expect(a.actor.getSnapshot().context.status.intake).toBe('off');
    a.hub.connected(a.nc, broker.url, Date.now());
    expect(a.actor.getSnapshot().context.status.intake).toBe('on');
    release();

    const [result, ...rest] = await waitForResults(broker, cmd.request_id);
    expect(rest).toHaveLength(0);
    expect(result).toMatchObject({ exit_code: 0, stdout: 'handed-off\n' });
    // The replay copy after the reconnect is a duplicate: still one result, one EventStarted.
    await pollUntil('run finished', 10_000, () => a.actor.getSnapshot().context.status.running.length === 0);
    await a.stop();
    agent = undefined;
    expect(await resultsFor(broker, cmd.request_id)).toHaveLength(1);
    expect(a.events.filter((e) => e.request_id === cmd.request_id)).toHaveLength(1);
  });
});
