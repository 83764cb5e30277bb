/**
 * `kanade-agent status`: every actor's state, read from the running agent's control socket.
 * Exit codes: 0 healthy, 1 degraded, 2 not running or unreachable, 3 the supervisor gave up.
 */
import type { Command } from 'commander';
import { defaultConfigPath, loadAgentConfig, pathExists } from '../../actors/config/load-config.js';
import { readControlSocket } from '../../actors/control-socket.js';
import { readLastExit as readLastExitFile } from '../../supervisor/last-exit.js';
import type { StatusReport } from '../../supervisor/status-projection.js';
import { readDevPointer } from './dev-pointer.js';

/** `status` exit codes (docs/status.md). */
export const STATUS_EXIT = { healthy: 0, degraded: 1, unreachable: 2, gave_up: 3 } as const;
/** Refresh period of `--watch`. */
export const WATCH_INTERVAL_MS = 1_000;

interface StatusOptions {
  json?: boolean;
  watch?: boolean;
  config?: string;
  socket?: string;
}

/** Registers `status`. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show every actor's state from the running agent")
    .option('--json', 'print the report as JSON (the shape is documented in docs/status.md)')
    .option('--watch', `refresh every ${WATCH_INTERVAL_MS / 1000} s until interrupted`)
    .option('-c, --config <file>', 'agent.toml to find the control socket')
    .option('--socket <path>', 'control socket path')
    .action(async (opts: StatusOptions) => {
      process.exitCode = await runStatus(opts);
    });
}

type Located = { socket: string; dataDir: string | null } | { error: string };

async function locate(opts: StatusOptions): Promise<Located> {
  if (opts.socket !== undefined) return { socket: opts.socket, dataDir: null };
  // No --config and no KANADE_AGENT_CONFIG: a running `kanade-agent dev` is used when the OS default
  // config does not exist (a development machine), so `npx kanade-agent status` just works.
  const dev = opts.config === undefined && !process.env.KANADE_AGENT_CONFIG ? readDevPointer() : null;
  const configPath = opts.config ?? (dev !== null && !(await pathExists(defaultConfigPath())) ? dev.config : undefined);
  try {
    const config = await loadAgentConfig(configPath === undefined ? {} : { configPath });
    return { socket: config.control.socket, dataDir: config.dataDir };
  } catch (error) {
    return { error: `cannot find the control socket: ${(error as Error).message} (use --socket PATH or --config FILE)` };
  }
}

type Outcome = { code: number; text: string; stream: 'out' | 'err' };

async function readLastExit(dataDir: string | null) {
  return dataDir === null ? null : readLastExitFile(dataDir);
}

async function once(opts: StatusOptions): Promise<Outcome> {
  const where = await locate(opts);
  if ('error' in where) return { code: STATUS_EXIT.unreachable, text: `kanade-agent status: ${where.error}`, stream: 'err' };
  let report: StatusReport;
  try {
    report = JSON.parse(await readControlSocket(where.socket)) as StatusReport;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const last = await readLastExit(where.dataDir);
    if (last?.reason === 'gave_up') {
      return {
        code: STATUS_EXIT.gave_up,
        text: `kanade-agent status: agent not running; it gave up at ${last.at} (${last.detail ?? 'no detail'}), exit code ${last.exit_code}`,
        stream: 'err',
      };
    }
    const lastNote = last === null ? '' : `; last exit: ${last.reason} at ${last.at} (exit code ${last.exit_code})`;
    return {
      code: STATUS_EXIT.unreachable,
      text: `kanade-agent status: agent not running or unreachable (control socket ${where.socket}: ${reason})${lastNote}`,
      stream: 'err',
    };
  }
  const code = STATUS_EXIT[report.health] ?? STATUS_EXIT.degraded;
  return { code, text: opts.json === true ? JSON.stringify(report, null, 2) : renderReport(report), stream: 'out' };
}

/** Runs `status` (once, or forever with `--watch`) and returns the exit code. */
export async function runStatus(opts: StatusOptions): Promise<number> {
  if (opts.watch !== true) {
    const outcome = await once(opts);
    (outcome.stream === 'out' ? process.stdout : process.stderr).write(`${outcome.text}\n`);
    return outcome.code;
  }
  for (;;) {
    const outcome = await once(opts);
    if (opts.json === true) process.stdout.write(`${outcome.text}\n`);
    else process.stdout.write(`\x1b[2J\x1b[H${outcome.text}\n`);
    await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
  }
}

function duration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1_000) return `${ms}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h${m % 60}m` : `${Math.floor(h / 24)}d${h % 24}h`;
}

function stateText(state: unknown): string {
  if (state === null || state === undefined) return '-';
  if (typeof state === 'string') return state;
  // {live: 'connected'} → live.connected; parallel states are joined with commas.
  const parts: string[] = [];
  const walk = (value: unknown, prefix: string): void => {
    if (typeof value === 'string') parts.push(`${prefix}${value}`);
    else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) parts.push(prefix.slice(0, -1));
      for (const [key, inner] of entries) walk(inner, `${prefix}${key}.`);
    }
  };
  walk(state, '');
  return parts.join(',');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The human-readable rendering of a report. */
export function renderReport(report: StatusReport): string {
  const lines: string[] = [];
  lines.push(
    `kanade-agent ${report.agent_version}  pc_id ${report.pc_id}  pid ${report.pid}  up ${duration(report.uptime_ms)}  health ${report.health.toUpperCase()}`,
  );
  const sup = report.supervisor;
  lines.push(
    `supervisor ${sup.state}  ${sup.strategy}  restarts in window ${sup.restarts_in_window}/${sup.intensity} per ${duration(sup.period_ms)}${sup.stop_cause ? `  stop: ${JSON.stringify(sup.stop_cause)}` : ''}`,
  );
  const c = report.connection;
  lines.push(
    c.connected
      ? `connection ${c.server}  since ${c.connected_since}  rtt ${c.rtt_ms ?? '-'}ms`
      : `connection DISCONNECTED${c.last_error ? `: ${c.last_error} (at ${c.last_error_at ?? '?'})` : ''}`,
  );
  if (report.signing?.problem) lines.push(`signing REFUSING ALL COMMANDS: ${report.signing.problem}`);
  lines.push(logLine(report.log));
  lines.push('');
  const rows = [['ACTOR', 'PHASE', 'STATE', 'TAGS', 'RESTARTS', 'LAST EXIT', 'NEXT RESTART', 'UPTIME']];
  for (const child of report.children) {
    rows.push([
      child.id,
      child.phase,
      stateText(child.state),
      child.tags.join(',') || '-',
      String(child.restarts),
      child.last_exit
        ? `${child.last_exit.reason} ${child.last_exit.at}${child.last_exit.error ? ` (${child.last_exit.error})` : ''}`
        : '-',
      child.next_restart_in_ms === null ? '-' : `in ${duration(child.next_restart_in_ms)}`,
      duration(child.uptime_ms),
    ]);
  }
  lines.push(table(rows));
  const outboxes = Object.entries(report.outbox);
  if (outboxes.length > 0) {
    lines.push('');
    for (const [name, status] of outboxes) {
      const s = (status ?? {}) as { depth?: unknown; stuck?: unknown; enqueue_error?: unknown };
      const problem = typeof s.enqueue_error === 'string' ? `  CANNOT QUEUE: ${s.enqueue_error}` : '';
      lines.push(`outbox ${name}: depth ${s.depth ?? '-'}  stuck ${s.stuck ?? '-'}${problem}`);
    }
  }
  const updater = report.children.find((c) => c.id === 'updater')?.status as UpdaterLine | null | undefined;
  if (updater) lines.push('', updaterLine(updater));
  const reasons = report.children.map((child) => degradedReason(child)).filter((r): r is string => r !== undefined);
  if (reasons.length > 0) {
    lines.push('');
    lines.push(...reasons);
  }
  return lines.join('\n');
}

/** The fields of the updater's status row the human rendering shows (docs/updater.md). */
interface UpdaterLine {
  target?: string | null;
  running_version?: string;
  self_update?: string;
  bytes_done?: number;
  bytes_total?: number | null;
  boot?: string;
  wait_ms?: number | null;
  parked_reason?: string | null;
  last_error?: string | null;
  quarantined_versions?: readonly string[];
}

function updaterLine(u: UpdaterLine): string {
  const parts = [`updater: ${u.self_update ?? '-'}`, `running ${u.running_version ?? '-'}`, `target ${u.target ?? '-'}`];
  if (u.bytes_total !== null && u.bytes_total !== undefined) parts.push(`${u.bytes_done ?? 0}/${u.bytes_total} bytes`);
  if (u.wait_ms !== null && u.wait_ms !== undefined) parts.push(`wait ${duration(u.wait_ms)}`);
  parts.push(`boot ${u.boot ?? '-'}`);
  if (u.quarantined_versions && u.quarantined_versions.length > 0) parts.push(`quarantined ${u.quarantined_versions.join(',')}`);
  if (u.parked_reason) parts.push(`parked: ${u.parked_reason}`);
  if (u.last_error) parts.push(`last error: ${u.last_error}`);
  return parts.join('  ');
}

/** The log destination line: where, and while lines are being dropped, why. */
function logLine(log: StatusReport['log']): string {
  if (log === null || log === undefined) return 'log -';
  if (log.writable)
    return `log ${log.destination}${log.dropped_lines > 0 ? `  (${log.dropped_lines} lines dropped earlier: ${log.last_error})` : ''}`;
  return `log ${log.destination}: dropping lines (${log.last_error ?? 'write failed'} since ${log.last_error_at ?? '?'}), ${log.dropped_lines} dropped so far`;
}

/** One line saying why a child in backoff or tagged degraded is so, from what it reports. */
export function degradedReason(child: StatusReport['children'][number]): string | undefined {
  if (child.phase !== 'backoff' && !child.tags.includes('degraded')) return undefined;
  const status = (child.status ?? {}) as Record<string, unknown>;
  const text = (key: string): string | undefined =>
    typeof status[key] === 'string' && status[key] !== '' ? (status[key] as string) : undefined;
  const reason =
    child.phase === 'backoff'
      ? `restarting ${child.next_restart_in_ms === null ? 'soon' : `in ${duration(child.next_restart_in_ms)}`} after ${child.last_exit?.reason ?? 'exit'}${child.last_exit?.error ? `: ${child.last_exit.error}` : ''}`
      : text('enqueue_error') !== undefined
        ? `cannot queue: ${text('enqueue_error')}`
        : text('last_error') !== undefined
          ? `${text('last_error')}${text('last_error_at') === undefined ? '' : ` (at ${text('last_error_at')})`}`
          : `in state ${stateText(child.state)}`;
  return `${child.id} DEGRADED: ${reason}`;
}
