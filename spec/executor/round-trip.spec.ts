/** Echo round trips through the real broker: pc, all and group subjects; every ExecResult field. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { draftCommand, commandBytes, publishCommand } from '../../actors/command-publisher.js';
import { parseRfc3339, subjects } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil, startExecutor, waitForResults, type TestExecutor } from './harness.js';

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('executor round trip', () => {
  let broker: Broker;
  let agent: TestExecutor;
  beforeAll(async () => {
    broker = await startBroker();
    agent = await startExecutor(broker, { groups: ['lab'] });
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
  });

  it('runs an echo sent to commands.pc.<pc_id> and fills every ExecResult field per §5.3', async () => {
    const cmd = draftCommand({
      shell: 'sh',
      script: 'echo ok; echo err >&2; exit 3',
      id: 'manifest-x',
      version: '1.2.3',
      exec_id: 'exec-rt-1',
    });
    const before = Date.now();
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(cmd));
    const [result, ...rest] = await waitForResults(broker, cmd.request_id);
    expect(rest).toHaveLength(0);
    expect(result).toBeDefined();
    const r = result!;
    expect(r.result_id).toMatch(UUID4);
    expect(r.request_id).toBe(cmd.request_id);
    expect(r.pc_id).toBe(agent.pcId);
    expect(r.manifest_id).toBe('manifest-x');
    expect(r.exec_id).toBe('exec-rt-1');
    expect(r.exit_code).toBe(3);
    expect(r.skipped).toBe(false);
    expect(r.stdout).toBe('ok\n');
    expect(r.stderr).toBe('err\n');
    expect(r.started_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(r.finished_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const started = parseRfc3339(r.started_at)!;
    expect(started).toBeGreaterThanOrEqual(before - 5);
    expect(parseRfc3339(r.finished_at)!).toBeGreaterThanOrEqual(started);
    expect(r.stdout_object).toBeUndefined();
    // EventStarted: same result_id and started_at as the result (§5.7).
    const ev = await pollUntil('EventStarted', 5_000, () => agent.events.find((e) => e.request_id === cmd.request_id));
    expect(ev).toEqual({
      result_id: r.result_id,
      request_id: cmd.request_id,
      exec_id: 'exec-rt-1',
      pc_id: agent.pcId,
      started_at: r.started_at,
      manifest_id: 'manifest-x',
      version: '1.2.3',
    });
  });

  it('runs commands sent to commands.all and to a current group, and omits exec_id when unset', async () => {
    const all = draftCommand({ shell: 'sh', script: 'echo all' });
    const group = draftCommand({ shell: 'sh', script: 'echo group' });
    await publishCommand(broker.nc, subjects.commandsAll, commandBytes(all));
    await publishCommand(broker.nc, subjects.commandsGroup('lab'), commandBytes(group));
    const [a] = await waitForResults(broker, all.request_id);
    const [g] = await waitForResults(broker, group.request_id);
    expect(a?.stdout).toBe('all\n');
    expect(g?.stdout).toBe('group\n');
    expect(a?.exit_code).toBe(0);
    expect(a && 'exec_id' in a).toBe(false);
    expect(agent.events.some((e) => e.request_id === all.request_id)).toBe(false);
  });

  it('follows the groups hub: a new group is subscribed, a group that leaves is not', async () => {
    agent.setGroups(['lab', 'ops']);
    await pollUntil('ops subscribed', 5_000, () => agent.logs.some((l) => l.msg === 'joined group: subscribed' && l['group'] === 'ops'));
    const ops = draftCommand({ shell: 'sh', script: 'echo ops' });
    await publishCommand(broker.nc, subjects.commandsGroup('ops'), commandBytes(ops));
    expect((await waitForResults(broker, ops.request_id))[0]?.stdout).toBe('ops\n');

    agent.setGroups(['ops']);
    await pollUntil('lab unsubscribed', 5_000, () => agent.logs.some((l) => l.msg === 'left group: unsubscribed' && l['group'] === 'lab'));
    const lab = draftCommand({ shell: 'sh', script: 'echo lab' });
    await publishCommand(broker.nc, subjects.commandsGroup('lab'), commandBytes(lab));
    // The replay consumer also sees it and acks it as not-for-me (logged at debug).
    await pollUntil('not-for-me ack', 5_000, () =>
      agent.logs.some((l) => l.msg === 'command not addressed to this PC; acked' && l['subject'] === 'commands.group.lab'),
    );
    const info = await broker.jsm.streams.info('RESULTS', { subjects_filter: subjects.results(lab.request_id) });
    expect(info.state.subjects?.[subjects.results(lab.request_id)] ?? 0).toBe(0);
  });
});
