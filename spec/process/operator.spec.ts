/**
 * Issue #14, each "Why" bullet against the real agent process: a full log volume, unwritable log
 * and data dirs, a second `run` on the same data dir, and config mistakes that used to be silent.
 * Full and read-only disks are tmpfs mounts as root (spec/harness/disks.ts), always released.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dailyLogPath } from '../../actors/daily-log-file.js';
import { runCli } from '../cli/run-cli.js';
import { startBroker, startTokenServer, type Broker } from '../harness/broker.js';
import { fullDir, IS_ROOT, readOnlyDir, type BadDir } from '../harness/disks.js';
import { pollUntil, readStatus, spawnAgent, waitForStatus, type AgentDir, type AgentProcess } from './agent-process.js';

let broker: Broker;
let tmp: string;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  broker = await startBroker();
  tmp = await mkdtemp(join(tmpdir(), 'kanade-operator-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});
afterAll(async () => {
  await broker.stop();
  await rm(tmp, { recursive: true, force: true });
});

let seq = 0;
/** Writes an agent.toml from `sections` (the [agent] table gets a private data dir unless given). */
async function configDir(extra: string, opts: { id?: string; dataDir?: string; url?: string } = {}): Promise<AgentDir> {
  seq += 1;
  const dir = join(tmp, `case-${seq}`);
  const dataDir = opts.dataDir ?? join(dir, 'data');
  const socket = join(dir, 'agent.sock');
  const configPath = join(dir, 'agent.toml');
  await rm(dir, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  await writeFile(
    configPath,
    [
      '[agent]',
      `id = ${JSON.stringify(opts.id ?? 'op-pc')}`,
      `nats_url = ${JSON.stringify(opts.url ?? broker.url)}`,
      `data_dir = ${JSON.stringify(dataDir)}`,
      '[control]',
      `socket = ${JSON.stringify(socket)}`,
      extra,
      '',
    ].join('\n'),
  );
  return { dir, configPath, socket, dataDir, remove: () => rm(dir, { recursive: true, force: true }) };
}

function start(dir: AgentDir): AgentProcess {
  const agent = spawnAgent(dir);
  cleanups.push(async () => {
    agent.kill('SIGKILL');
    await agent.exited;
  });
  return agent;
}

function track(bad: BadDir): BadDir {
  cleanups.push(() => bad.release());
  return bad;
}

describe('logging never stops the agent', () => {
  it('a full log volume: lines dropped and counted, one stderr warning, status degraded with the reason, resumes when space returns', async () => {
    const full = track(fullDir(`agent.${new Date().toISOString().slice(0, 10)}.log`));
    const base = join(full.path, 'agent.log');
    const dir = await configDir(`[log]\npath = ${JSON.stringify(base)}\nlevel = "info"\nkeep_days = 14`);
    const agent = start(dir);

    const dropping = await waitForStatus(dir.socket, 'lines dropped', (r) => (r.log?.dropped_lines ?? 0) > 0 && r.connection.connected);
    expect(dropping.log).toMatchObject({ writable: false, last_error: expect.stringMatching(/^ENOSPC/) });
    expect(dropping.health).toBe('degraded');
    const human = await runCli(['status', '--config', dir.configPath]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/log .*dropping lines.*ENOSPC/);

    full.heal();
    // Something to log: command round trips. A line dropped within LOG_RETRY_MS of the last failed
    // write is dropped without a retry, and an idle agent logs nothing: on a loaded machine the first
    // command's lines can all fall inside that window, so each poll runs another command.
    const back = await pollUntil(
      'log writable again',
      60_000,
      async () => {
        const exec = await runCli(['exec', '--nats', broker.url, '--pc', 'op-pc', '--wait', '20', '--', 'echo', 'hi']);
        expect(exec.stdout).toContain('hi');
        const report = await readStatus(dir.socket);
        return report?.log?.writable === true ? report : undefined;
      },
      100,
    );
    expect(back.log?.dropped_lines).toBeGreaterThan(0);
    const text = await readFile(dailyLogPath(base, Date.now()), 'utf8');
    expect(text).toMatch(/"msg":"\d+ log lines were dropped while the log file could not be written \(ENOSPC/);
    const line = JSON.parse(text.trim().split('\n').at(-1)!) as { time: string; level: string };
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(line.level);
    expect(agent.output.stderr.match(/cannot write log file/g)).toHaveLength(1);

    agent.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    expect(JSON.parse(await readFile(join(dir.dataDir, 'last-exit.json'), 'utf8'))).toMatchObject({ reason: 'shutdown', exit_code: 0 });
  });

  it('starts when its log directory cannot be written, and says so once on stderr', async () => {
    const ro = track(readOnlyDir());
    const dir = await configDir(`[log]\npath = ${JSON.stringify(join(ro.path, 'logs', 'agent.log'))}\nlevel = "info"`);
    const agent = start(dir);
    const report = await waitForStatus(dir.socket, 'running', (r) => r.connection.connected);
    expect(report.log?.writable).toBe(false);
    expect(agent.output.stderr).toMatch(IS_ROOT ? /cannot write log file .*\(EROFS/ : /cannot write log file .*\(EACCES/);
    expect(agent.output.stderr).toContain('the agent keeps running');
  });
});

describe('unwritable paths and a second instance', () => {
  it('a read-only data dir: exit 78 at once with one message naming the dir, the key and the OS error', async () => {
    const ro = track(readOnlyDir());
    const dir = await configDir('', { dataDir: join(ro.path, 'data') });
    const run = await runCli(['run', '--config', dir.configPath], { ...process.env, KANADE_AGENT_DATA_DIR: '' });
    expect(run.code).toBe(78);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`data dir ${join(ro.path, 'data')} is not usable (${IS_ROOT ? 'EROFS' : 'EACCES'}`);
    expect(lines[0]).toContain('[agent] data_dir (or KANADE_AGENT_DATA_DIR) must name a directory');
    expect(run.stderr).not.toMatch(/outbox|agent\.sock/);
  });

  it('a second run on the same data dir exits 75 before starting anything, and the first keeps running', async () => {
    const dir = await configDir('[log]\nlevel = "info"\nkeep_days = 0');
    const first = start(dir);
    const before = await waitForStatus(dir.socket, 'first agent up', (r) => r.connection.connected);
    const second = await runCli(['run', '--config', dir.configPath], { ...process.env, KANADE_AGENT_DATA_DIR: '' });
    expect(second.code).toBe(75);
    expect(second.stderr.trim()).toBe(
      `kanade-agent: another kanade-agent (pid ${first.pid}) is already running with this data dir (${join(dir.dataDir, 'agent.lock')}); stop it first, or give this one another [agent] data_dir`,
    );
    expect(second.stdout).toBe('');
    const after = await readStatus(dir.socket);
    expect(after).toMatchObject({ pid: before.pid });
    expect(after!.children.every((c) => c.restarts === 0)).toBe(true);
    expect(existsSync(join(dir.dataDir, 'last-exit.json'))).toBe(false);
    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(await readdir(dir.dataDir)).not.toContain('agent.lock');
  });
});

describe('strict config', () => {
  it.each([
    [
      '[securty]\nrequire_signed_commands = true',
      '[securty]: unknown section, ignored (wire contract §12); did you mean [security]? Its keys (require_signed_commands) are NOT applied.',
    ],
    ['[log]\nlevel = "info"\nkeep_day = 3', '[log] keep_day: unknown key, ignored; did you mean keep_days?'],
    ['[inventory]\nintervall = "1h"', '[inventory] intervall: unknown key, ignored; did you mean interval?'],
  ])('warns about %j with a suggestion, and still starts', async (extra, warning) => {
    const dir = await configDir(extra);
    const check = await runCli(['config', 'check', '--config', dir.configPath]);
    expect(check.code).toBe(0);
    expect(check.stderr).toContain(`kanade-agent: warning: ${dir.configPath}: ${warning}`);
    expect(check.stdout).toContain('id = "op-pc"');
  });

  it.each([
    [
      '[security]\nrequire_signed_command = true',
      'op-pc',
      '[security] require_signed_command: unknown key; did you mean require_signed_commands?',
    ],
    [
      '',
      'pc with space',
      '[agent] id: expected a single NATS subject token (not empty; no ".", "*", ">" or whitespace), e.g. id = "pc-with-space" (this one contains whitespace or a control character), got "pc with space"',
    ],
    [
      '',
      'name.local',
      '[agent] id: expected a single NATS subject token (not empty; no ".", "*", ">" or whitespace), e.g. id = "name" (this one contains ".")',
    ],
    ['', '*', '[agent] id: expected a single NATS subject token'],
  ])('refuses %j / id %j with exit 78 naming the file and key (run, run --check-config, config check)', async (extra, id, message) => {
    const dir = await configDir(extra, { id });
    for (const args of [
      ['run', '--config', dir.configPath],
      ['run', '--check-config', '--config', dir.configPath],
      ['config', 'check', '--config', dir.configPath],
    ]) {
      const run = await runCli(args, { ...process.env, KANADE_AGENT_DATA_DIR: '' });
      expect(run.code, args.join(' ')).toBe(78);
      expect(run.stderr).toContain(`kanade-agent: ${dir.configPath}: ${message}`);
    }
    expect(existsSync(dir.dataDir)).toBe(false);
  });

  it('run --check-config prints the effective file config, never a secret, and starts nothing', async () => {
    const dir = await configDir('[log]\nlevel = "warn"\nkeep_days = 0\nmax_size = "1MiB"');
    const run = await runCli(['run', '--check-config', '--config', dir.configPath], {
      ...process.env,
      KANADE_AGENT_DATA_DIR: '',
      KANADE_NATS_TOKEN: 's3cret-token',
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`nats_url = ${JSON.stringify(broker.url)}`);
    expect(run.stdout).toContain('level = "warn"');
    expect(run.stdout).toContain('max_size = 1048576');
    expect(run.stdout).toContain('# NATS credentials (from the environment, never printed): token');
    expect(run.stdout + run.stderr).not.toContain('s3cret-token');
    expect(run.stderr).toContain(`${dir.configPath}: OK`);
    expect(existsSync(dir.socket)).toBe(false);
  });

  it('config check --help says what it does', async () => {
    const help = await runCli(['config', 'check', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      'validate agent.toml and print the effective file config; starts nothing (exit 0 valid, 78 invalid)',
    );
  });
});

describe('a broker that cannot be reached is reported', () => {
  it.each([
    ['a closed port', 'nats://127.0.0.1:1', 'connection refused (ECONNREFUSED): is nats-server running and listening on that port?'],
    ['an unknown host', 'nats://no-such-host.invalid:4222', 'unknown host (ENOTFOUND): check [agent] nats_url'],
  ])('%s: one log line with the cause (no stack), last_error in status, the reason in human status', async (_what, url, cause) => {
    const dir = await configDir('[log]\nlevel = "info"\nkeep_days = 0', { url });
    const agent = start(dir);
    const report = await waitForStatus(dir.socket, 'last_error reported', (r) => r.connection.last_error !== null);
    expect(report.connection).toMatchObject({ connected: false, last_error: cause, last_error_at: expect.stringMatching(/Z$/) });
    const human = await runCli(['status', '--config', dir.configPath]);
    expect(human.stdout).toContain(`connection DISCONNECTED: ${cause} (at `);
    await pollUntil('the log line', 5_000, () => agent.output.stdout.includes('cannot connect to NATS'));
    const lines = agent.output.stdout.split('\n').filter((l) => l.includes('cannot connect to NATS'));
    expect(lines).toHaveLength(1); // rate-limited: the same cause is repeated only every 30 s
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', msg: `cannot connect to NATS: ${cause}; retrying` });
    expect(agent.output.stdout).not.toContain('"stack"');
  });

  it('a broker that wants a token when none is set says to set KANADE_NATS_TOKEN', async () => {
    const server = await startTokenServer('op-secret');
    cleanups.push(() => server.cleanup());
    const dir = await configDir('[log]\nlevel = "info"\nkeep_days = 0', { url: server.url });
    const agent = spawnAgent(dir, { KANADE_NATS_TOKEN: '' });
    cleanups.push(async () => {
      agent.kill('SIGKILL');
      await agent.exited;
    });
    const report = await waitForStatus(dir.socket, 'refusal reported', (r) => r.connection.last_error !== null);
    expect(report.connection.last_error).toBe(
      'authorization refused: no credentials set; set KANADE_NATS_TOKEN (or KANADE_NATS_USER and KANADE_NATS_PASSWORD)',
    );
    await pollUntil('the log line', 5_000, () => agent.output.stdout.includes('no credentials set'));
    expect(agent.output.stdout).not.toContain('none credentials');
  });
});
