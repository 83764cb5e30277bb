/**
 * Issue #14: the status JSON mixed `rtt_ms` with `lastBeatAt`/`slots.inUse` and printed
 * `oldest_age_ms: 19358.045166015625`. Now `status --json` of a real agent is checked against
 * docs/status.md's field table (schema 1) in both directions, healthy and with the broker gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toStatusShape } from '../../supervisor/status-shape.js';
import { runCli } from '../cli/run-cli.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { checkAgainstDoc, readStatusDocFields } from '../harness/status-doc.js';
import { agentDir, spawnAgent, waitForStatus, type AgentDir, type AgentProcess } from '../process/agent-process.js';

const fields = readStatusDocFields();
let broker: Broker;
let dir: AgentDir;
let agent: AgentProcess;

beforeAll(async () => {
  broker = await startBroker();
  dir = await agentDir([broker.url], 'schema-pc');
  agent = spawnAgent(dir);
});
afterAll(async () => {
  agent.kill('SIGKILL');
  await agent.exited;
  await broker.stop().catch(() => undefined);
  await dir.remove();
});

async function statusJson(): Promise<unknown> {
  const run = await runCli(['status', '--json', '--config', dir.configPath]);
  return JSON.parse(run.stdout) as unknown;
}

describe('status --json, schema 1', () => {
  it('docs/status.md has the field table the checker reads', () => {
    expect(fields.length).toBeGreaterThan(50);
    expect(fields).toContainEqual({ path: 'schema', type: 'integer', conditional: false });
    expect(fields).toContainEqual({ path: 'supervisor.stop_cause.child', type: 'string', conditional: true });
  });

  it('the checker reports an undocumented field, a wrong type, a camelCase key and a missing field', () => {
    const doc = [
      { path: 'schema', type: 'integer', conditional: false },
      { path: 'a', type: 'object', conditional: false },
      { path: 'a.age_ms', type: 'ms', conditional: false },
      { path: 'a.gone', type: 'string', conditional: false },
    ];
    expect(checkAgainstDoc({ schema: 1, a: { age_ms: 1.5, lastBeatAt: null }, extra: true }, doc)).toEqual([
      "$.a.age_ms: 1.5 is not 'ms' (row a.age_ms)",
      '$.a.lastBeatAt: key is not snake_case',
      '$.a.lastBeatAt: printed but not documented (no row for a.lastBeatAt)',
      '$.a.gone: documented (row a.gone) but not printed',
      '$.extra: printed but not documented (no row for extra)',
    ]);
  });

  it('a healthy agent after one command prints exactly the documented fields', async () => {
    await waitForStatus(
      dir.socket,
      'connected, heartbeat sent',
      (r) => r.connection.connected && r.children.every((c) => c.phase === 'running'),
    );
    const exec = await runCli(['exec', '--nats', broker.url, '--pc', 'schema-pc', '--wait', '20', '--', 'echo', 'hi']);
    expect(exec.stdout).toContain('hi');
    const report = await statusJson();
    expect(report).toMatchObject({ schema: 1, health: 'healthy' });
    expect(checkAgainstDoc(report, fields)).toEqual([]);
  });

  it('with the broker gone it still prints exactly the documented fields', async () => {
    await broker.server.stop();
    await waitForStatus(dir.socket, 'disconnected', (r) => !r.connection.connected);
    const report = await statusJson();
    expect(report).toMatchObject({ schema: 1, health: 'degraded', connection: { connected: false } });
    expect(checkAgainstDoc(report, fields)).toEqual([]);
  });

  it("passes children's own status fields through one style: snake_case keys, integer ms", () => {
    expect(toStatusShape({ lastBeatAt: null, slots: { inUse: 1 }, oldest_age_ms: 19358.045166015625, groups: ['a'] })).toEqual({
      last_beat_at: null,
      slots: { in_use: 1 },
      oldest_age_ms: 19358,
      groups: ['a'],
    });
  });
});
