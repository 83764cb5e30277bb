/**
 * The agent process's life cycle, end to end: `kanade-agent run` against a real broker, driven by
 * failpoints and signals, observed through `kanade-agent status`.
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLastExit } from '../../supervisor/last-exit.js';
import { runCli } from '../cli/run-cli.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil } from '../harness/poll.js';
import { agentDir, connectionRow, spawnAgent, waitForStatus, type AgentDir } from './agent-process.js';

const HEALTH_EXIT: Record<string, number> = { healthy: 0, degraded: 1, gave_up: 3 };

let broker: Broker;
const dirs: AgentDir[] = [];
const newDir = async (): Promise<AgentDir> => {
  const dir = await agentDir([broker.url]);
  dirs.push(dir);
  return dir;
};

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
  await Promise.all(dirs.map((d) => d.remove()));
});

describe('kanade-agent status without an agent', () => {
  it('exits 2 with a clear message when nothing answers on the socket', async () => {
    const dir = await newDir();
    const run = await runCli(['status', '--config', dir.configPath]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('agent not running or unreachable');
    expect(run.stderr).toContain(dir.socket);
  });
});

describe('kanade-agent run', () => {
  it('exits 78 with the config error on stderr when agent.toml is broken', async () => {
    const dir = await newDir();
    const run = await runCli(['run', '--config', `${dir.dir}/missing.toml`]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('missing.toml');
  });

  it('restarts a child whose start fails once (failpoint), shows it in status, and exits 0 on SIGTERM', async () => {
    const dir = await newDir();
    const agent = spawnAgent(dir, { KANADE_FAILPOINTS: 'connection.start=throw-once' });
    try {
      const report = await waitForStatus(dir.socket, 'connection restarted and connected', (r) => {
        const row = connectionRow(r);
        return row.restarts >= 1 && row.phase === 'running' && r.connection.connected;
      });
      expect(connectionRow(report).last_exit).toMatchObject({
        reason: 'error',
        error: 'FailpointError: failpoint connection.start triggered',
      });

      const status = await runCli(['status', '--json', '--config', dir.configPath]);
      const fromCli = JSON.parse(status.stdout) as typeof report;
      expect(connectionRow(fromCli)).toMatchObject({ phase: 'running', state: { live: 'connected' } });
      expect(connectionRow(fromCli).restarts).toBeGreaterThanOrEqual(1);
      expect(fromCli.supervisor).toMatchObject({ strategy: 'one_for_one', intensity: 5, period_ms: 30_000 });
      expect(status.code).toBe(HEALTH_EXIT[fromCli.health]);

      const human = await runCli(['status', '--config', dir.configPath]);
      expect(human.stdout).toMatch(/connection\s+running\s+live\.connected/);

      agent.kill('SIGTERM');
      const exit = await agent.exited;
      expect(exit.code).toBe(0);
      expect(await readLastExit(dir.dataDir)).toMatchObject({ reason: 'shutdown', exit_code: 0 });
    } finally {
      agent.kill('SIGKILL');
    }
  });

  it('restarts the heartbeat child after its tick throws once (heartbeat.tick failpoint)', async () => {
    const dir = await newDir();
    const agent = spawnAgent(dir, { KANADE_FAILPOINTS: 'heartbeat.tick=throw-once' });
    try {
      const report = await waitForStatus(dir.socket, 'heartbeat restarted and running', (r) => {
        const row = r.children.find((c) => c.id === 'heartbeat');
        return row !== undefined && row.restarts >= 1 && row.phase === 'running';
      });
      const row = report.children.find((c) => c.id === 'heartbeat')!;
      expect(row.last_exit).toMatchObject({ reason: 'error' });
      expect(row.last_exit?.error).toContain('heartbeat.tick');
      expect(report.supervisor.restarts_in_window).toBeGreaterThanOrEqual(1);
      expect(connectionRow(report).restarts).toBe(0);
      agent.kill('SIGTERM');
      expect((await agent.exited).code).toBe(0);
    } finally {
      agent.kill('SIGKILL');
    }
  });

  it('heartbeats before the walk that tightens modes under the data dir is done (private.walk held by a failpoint)', async () => {
    const dir = await newDir();
    // A loose file an older agent left in its outbox: only the background walk tightens it.
    await mkdir(path.join(dir.dataDir, 'outbox'), { recursive: true, mode: 0o700 });
    const loose = path.join(dir.dataDir, 'outbox', 'left-over.tmp');
    await writeFile(loose, '{}');
    await chmod(loose, 0o644);
    const beats: string[] = [];
    const sub = broker.nc.subscribe('heartbeat.lifecycle-pc', {
      callback: (_err, msg) => {
        beats.push(msg.subject);
      },
    });
    const agent = spawnAgent(dir, { KANADE_FAILPOINTS: 'private.walk=hang' });
    try {
      expect(await pollUntil('first heartbeat', 60_000, () => beats[0])).toBe('heartbeat.lifecycle-pc');
      // The data dir itself was made 0700 before the tree started; the walk below it is still held.
      expect((await stat(dir.dataDir)).mode & 0o777).toBe(0o700);
      expect((await stat(loose)).mode & 0o777).toBe(0o644);
      agent.kill('SIGTERM');
      expect((await agent.exited).code).toBe(0);
    } finally {
      sub.unsubscribe();
      agent.kill('SIGKILL');
    }
  });

  it('gives up and exits 1 when a child fails on every start; status then says it gave up (3)', async () => {
    const dir = await newDir();
    const agent = spawnAgent(dir, { KANADE_FAILPOINTS: 'connection.start=throw' });
    try {
      const exit = await agent.exited;
      expect(exit.code).toBe(1);
      const fatal = exit.stdout.split('\n').filter((line) => line.includes('"level":"fatal"'));
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toContain('supervisor gave up on child connection');
      const status = await runCli(['status', '--config', dir.configPath]);
      expect(status.code).toBe(3);
      expect(status.stderr).toContain('gave up');
    } finally {
      agent.kill('SIGKILL');
    }
  });

  it('stops a child that does not answer shutdown by force after its grace, and still exits 0', async () => {
    const dir = await newDir();
    const agent = spawnAgent(dir, { KANADE_FAILPOINTS: 'connection.shutdown=throw' });
    try {
      await waitForStatus(dir.socket, 'connected', (r) => r.connection.connected);
      agent.kill('SIGTERM');
      const exit = await agent.exited;
      expect(exit.code).toBe(0);
      expect(exit.stdout).toContain('child connection ignored shutdown; stopped by force');
    } finally {
      agent.kill('SIGKILL');
    }
  });

  it('a second signal during shutdown exits at once with 128 + signal', async () => {
    const dir = await newDir();
    const agent = spawnAgent(dir, { KANADE_FAILPOINTS: 'connection.shutdown=throw' });
    try {
      await waitForStatus(dir.socket, 'connected', (r) => r.connection.connected);
      agent.kill('SIGTERM');
      await waitForStatus(dir.socket, 'connection being stopped', (r) => connectionRow(r).phase === 'stopping');
      agent.kill('SIGTERM');
      const exit = await agent.exited;
      expect(exit.code).toBe(143);
      expect(exit.stdout).toContain('second signal: exiting at once');
      expect(exit.stdout).not.toContain('ignored shutdown; stopped by force');
    } finally {
      agent.kill('SIGKILL');
    }
  });
});
