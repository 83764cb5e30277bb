/**
 * Process-level helpers: a temp agent.toml, a spawned `kanade-agent run`, its status read from the
 * control socket, and bounded polling.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readControlSocket } from '../../actors/control-socket.js';
import type { StatusReport } from '../../supervisor/status-projection.js';
import { finished, spawnCli, type CliRun } from '../cli/run-cli.js';
import type { AgentBinary } from '../harness/agent-binary.js';
import { pollUntil } from '../harness/poll.js';

/** Short reconnect wait so broker restarts are picked up fast (documented env). */
export const TEST_AGENT_RECONNECT_WAIT_MS = 100;

/** A temp directory with an agent.toml whose data dir and socket live inside it. */
export interface AgentDir {
  readonly dir: string;
  readonly configPath: string;
  readonly socket: string;
  readonly dataDir: string;
  remove(): Promise<void>;
}

/** Writes an agent.toml for `urls` (one URL or a cluster list). */
export async function agentDir(urls: string[], pcId = 'lifecycle-pc'): Promise<AgentDir> {
  const dir = await mkdtemp(join(tmpdir(), 'kanade-lifecycle-'));
  const dataDir = join(dir, 'data');
  const socket = join(dataDir, 'agent.sock');
  const configPath = join(dir, 'agent.toml');
  await writeFile(
    configPath,
    [
      '[agent]',
      `id = ${JSON.stringify(pcId)}`,
      // JSON arrays of strings are valid TOML arrays.
      `nats_url = ${JSON.stringify(urls.length === 1 ? urls[0] : urls)}`,
      `data_dir = ${JSON.stringify(dataDir)}`,
      '[log]',
      'level = "info"',
      'keep_days = 0',
      '[control]',
      `socket = ${JSON.stringify(socket)}`,
      '',
    ].join('\n'),
  );
  return { dir, configPath, socket, dataDir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A running agent process. */
export interface AgentProcess {
  readonly pid: number;
  readonly output: { stdout: string; stderr: string };
  /** Resolves when the process exits. */
  readonly exited: Promise<CliRun>;
  kill(signal?: NodeJS.Signals): void;
}

/** How to start the agent: its arguments (default `run --config <dir>`) and the binary (default: under test). */
export interface SpawnAgentOptions {
  readonly args?: readonly string[];
  readonly binary?: AgentBinary;
}

/** Spawns `kanade-agent run --config <dir>` with extra env (e.g. KANADE_FAILPOINTS). */
export function spawnAgent(dir: AgentDir, env: Record<string, string> = {}, opts: SpawnAgentOptions = {}): AgentProcess {
  const child = spawnCli(
    opts.args ?? ['run', '--config', dir.configPath],
    {
      ...process.env,
      KANADE_AGENT_DATA_DIR: '',
      KANADE_NATS_RECONNECT_WAIT_MS: String(TEST_AGENT_RECONNECT_WAIT_MS),
      ...env,
    },
    opts.binary,
  );
  return {
    pid: child.pid!,
    output: child.output,
    exited: finished(child),
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Reads the status report from the socket; null while nobody answers. */
export async function readStatus(socket: string): Promise<StatusReport | null> {
  try {
    return JSON.parse(await readControlSocket(socket, 2_000)) as StatusReport;
  } catch {
    return null;
  }
}

/** Polls the socket until `predicate(report)` holds; returns that report. */
export function waitForStatus(
  socket: string,
  what: string,
  predicate: (report: StatusReport) => boolean,
  timeoutMs = 15_000,
): Promise<StatusReport> {
  return pollUntil(
    what,
    timeoutMs,
    async () => {
      const report = await readStatus(socket);
      return report !== null && predicate(report) ? report : undefined;
    },
    100,
  );
}

/** The `connection` row of a report. */
export function connectionRow(report: StatusReport) {
  return report.children.find((c) => c.id === 'connection')!;
}

export { pollUntil };
