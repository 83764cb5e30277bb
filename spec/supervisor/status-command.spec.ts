/**
 * `kanade-agent status` against a canned report served on a real control socket: the exit code
 * follows `health`, `--json` prints the report unchanged, the table names every child.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlSocket, type ControlSocket } from '../../actors/control-socket.js';
import { renderReport } from '../../bin/commands/status.js';
import type { StatusReport } from '../../supervisor/status-projection.js';
import { runCli } from '../cli/run-cli.js';

const report = (health: StatusReport['health']): StatusReport => ({
  schema: 1,
  pc_id: 'pc-1',
  agent_version: '9.9.9',
  pid: 42,
  started_at: '2026-01-01T00:00:00.000Z',
  uptime_ms: 3_723_000,
  health,
  supervisor: { state: 'supervising', strategy: 'one_for_one', intensity: 5, period_ms: 30_000, restarts_in_window: 2, stop_cause: null },
  children: [
    {
      id: 'connection',
      phase: 'running',
      state: { live: 'connected' },
      tags: ['healthy'],
      status: { rtt_ms: 2 },
      restarts: 0,
      last_exit: null,
      next_restart_in_ms: null,
      uptime_ms: 3_700_000,
    },
    {
      id: 'heartbeat',
      phase: 'backoff',
      state: null,
      tags: [],
      status: null,
      restarts: 2,
      last_exit: { reason: 'error', at: '2026-01-01T01:02:00.000Z', error: 'Error: boom' },
      next_restart_in_ms: 1_500,
      uptime_ms: null,
    },
    {
      id: 'outbox-results',
      phase: 'running',
      state: 'draining',
      tags: ['busy'],
      status: { depth: 3, stuck: 1 },
      restarts: 0,
      last_exit: null,
      next_restart_in_ms: null,
      uptime_ms: 10,
    },
  ],
  connection: {
    connected: true,
    server: '127.0.0.1:4222',
    connected_since: '2026-01-01T00:00:01.000Z',
    rtt_ms: 2,
    last_error: null,
    last_error_at: null,
  },
  outbox: { results: { depth: 3, stuck: 1 } },
  log: { destination: '/var/log/kanade/agent.2026-01-01.log', writable: true, dropped_lines: 0, last_error: null, last_error_at: null },
});

let dir: string;
let current: StatusReport = report('healthy');
let socket: ControlSocket;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kanade-status-'));
  socket = await startControlSocket({ path: join(dir, 's.sock'), report: () => current });
});
afterAll(async () => {
  await socket.close();
  await rm(dir, { recursive: true, force: true });
});

describe('kanade-agent status', () => {
  it.each([
    ['healthy', 0],
    ['degraded', 1],
    ['gave_up', 3],
  ] as const)('health %s → exit %i, --json prints the report as served', async (health, code) => {
    current = report(health);
    const run = await runCli(['status', '--json', '--socket', socket.path]);
    expect(run.code).toBe(code);
    expect(JSON.parse(run.stdout)).toEqual(current);
  });

  it('renders one row per child with phase, state path, restarts, last exit and next restart', () => {
    const text = renderReport(report('degraded'));
    expect(text).toContain('health DEGRADED');
    expect(text).toContain('restarts in window 2/5 per 30s');
    expect(text).toMatch(/connection\s+running\s+live\.connected\s+healthy\s+0/);
    expect(text).toMatch(/heartbeat\s+backoff\s+-\s+-\s+2\s+error 2026-01-01T01:02:00.000Z \(Error: boom\)\s+in 1s/);
    expect(text).toContain('outbox results: depth 3  stuck 1');
    expect(text).toContain('up 1h2m');
  });
});
