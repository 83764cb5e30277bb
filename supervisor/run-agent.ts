/**
 * The agent process's life cycle: config → logger → services → root supervisor → control socket;
 * signals stop the tree in reverse order; the exit code tells the service manager what happened.
 *
 * Exit codes: 0 stopped by a signal or, when KANADE_AGENT_STOP_ON_STDIN_EOF=1 (set by the service
 * hosts, docs/service.md), by stdin EOF (graceful); 1 the supervisor gave up, a child escalated, the
 * root crashed or an uncaught error happened; 64 self-update: the updater swapped the executable
 * (a graceful stop of the tree), or the boot sentinel restored the last-good one (before the tree
 * started) — the service manager starts the new one; 75 another agent holds the data dir's lock
 * (nothing touched); 78 the config or a path in it is unusable (EX_CONFIG, restarting will not
 * help); 130 / 143 a second SIGINT / SIGTERM during shutdown (exit at once).
 *
 * @example
 * process.exit(await runAgent({ configPath: '/etc/kanade/agent.toml' }));
 */
import type { Logger } from 'pino';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { PROCESS_EXIT_ALREADY_RUNNING, PROCESS_EXIT_CONFIG, PROCESS_EXIT_FAILURE, PROCESS_EXIT_SELF_UPDATE } from '../contract/index.js';
import { checkControlSocketDir, lockDataDir, startupSummary } from '../actors/config/check-paths.js';
import { ConfigError, loadAgentConfig, type AgentConfig } from '../actors/config/load-config.js';
import { ControlSocketDirError, ControlSocketInUseError, startControlSocket, type ControlSocket } from '../actors/control-socket.js';
import { createFailpoints } from '../actors/failpoints.js';
import { InstanceLockedError, type InstanceLock } from '../actors/instance-lock.js';
import { createLogger, logSinkStats } from '../actors/logger.js';
import { STOP_ON_STDIN_EOF_ENV, watchStdinEof } from '../actors/stdin-stop.js';
import { BootRolledBack, checkBoot, reportRollback } from '../actors/updater/boot-sentinel.js';
import { selfExecutable } from '../actors/updater/self-executable.js';
import type { AgentServices } from '../actors/ports.js';
import { securePrivateFiles } from '../actors/private-files.js';
import { windowsStagingRoot } from '../actors/exec/run-process.js';
import { AGENT_VERSION } from '../actors/version.js';
import type { ChildSpec } from './child-spec.js';
import { LAST_EXIT_FILE, writeLastExit, type LastExit } from './last-exit.js';
import { CHILDREN } from './children.js';
import { rootMachine, type RootMachine, type StopCause } from './root-machine.js';
import type { SupervisorFlags } from './rules.js';
import { createAgentServices } from './services.js';
import { childSnapshots, projectStatus, type StatusReport } from './status-projection.js';

/** Hard ceiling on a graceful stop: the tree has a 9 s budget, this catches anything beyond it. */
export const HARD_SHUTDOWN_DEADLINE_MS = 10_000;
/** Exit code of a second signal, 128 + signal number (shell convention). */
export const SIGNAL_EXIT_CODES: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

/** Options of {@link startAgent} and {@link runAgent}. */
export interface RunAgentOptions {
  /** `--config`; else `KANADE_AGENT_CONFIG`, else the OS default. */
  readonly configPath?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** xstate inspection observer for the root actor (the `--inspect` inspector plugs in here). */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Overrides the child list (tests). */
  readonly children?: readonly ChildSpec[];
  readonly flags?: SupervisorFlags;
  /** Called once the tree and the control socket are up (the inspector reads reports and child snapshots through it). */
  readonly onStarted?: (agent: RunningAgent) => void;
}

/** A started agent: the root actor plus the handles bin/ and the inspector need. */
export interface RunningAgent {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly services: AgentServices;
  readonly root: Actor<RootMachine>;
  readonly startedAt: number;
  /** The current status report. */
  report(): StatusReport;
  /** The live snapshot of every running child, keyed by id. */
  childSnapshots(): ReturnType<typeof childSnapshots>;
  /** Resolves with the exit code once the tree stopped (shutdown → 0, give-up / crash → 1). */
  readonly stopped: Promise<number>;
  /** Asks the tree to stop (what SIGTERM does). */
  shutdown(): void;
  /** Closes the control socket and records last-exit.json. */
  dispose(exitCode: number, reason: LastExit['reason'], detail: string | null): Promise<void>;
}

/** Loads the config (throws ConfigError), starts the tree and the control socket. */
export async function startAgent(opts: RunAgentOptions = {}): Promise<RunningAgent> {
  const env = opts.env ?? process.env;
  const config = await loadAgentConfig({ ...(opts.configPath === undefined ? {} : { configPath: opts.configPath }), env });
  // Before anything else touches the data dir: one agent per data dir, and paths that work.
  const lock: InstanceLock = await lockDataDir(config);
  try {
    await checkControlSocketDir(config);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const log = createLogger({
    level: config.log.level,
    ...(config.log.path === undefined ? {} : { destination: config.log.path, keepDays: config.log.keepDays }),
    ...(config.log.maxSizeBytes === undefined ? {} : { maxSizeBytes: config.log.maxSizeBytes }),
    name: 'kanade-agent',
  });
  process.stderr.write(`${startupSummary(config, AGENT_VERSION)}\n`);
  for (const warning of config.warnings) {
    log.warn(warning);
    if (config.log.path !== undefined) process.stderr.write(`kanade-agent: warning: ${warning}\n`);
  }
  if (config.deprecatedGroups) log.warn('[agent] groups is deprecated and ignored; groups come from the agent_groups KV');
  const failpoints = createFailpoints(env['KANADE_FAILPOINTS']);
  // Windows: the script staging root gets the data dir's ACL (SYSTEM + Administrators), inherited by each run's dir.
  // The walk that tightens modes below the (now 0700) data dir runs in the background and logs its own errors.
  const { walked } = await securePrivateFiles(
    config.dataDir,
    config.log.path,
    log,
    process.platform === 'win32' ? [windowsStagingRoot(env)] : [],
    {},
    failpoints,
  );
  void walked;
  // §10 step 6: before anything else of the tree runs, count this boot and roll a failing release back.
  const boot = checkBoot({ dataDir: config.dataDir, exe: selfExecutable(), version: AGENT_VERSION, log, failpoints });
  if (boot.kind === 'rolled_back') {
    await reportRollback({ dataDir: config.dataDir, pcId: config.pcId, log }, boot);
    throw new BootRolledBack(boot.from, boot.to);
  }
  // Tests: a release that fails at boot, after the sentinel counted it (`agent.boot@<version>=exit`).
  failpoints.hitSync(`agent.boot@${AGENT_VERSION}`);
  const services = createAgentServices({ config, log, agentVersion: AGENT_VERSION, env });
  const startedAt = Date.now();
  const root = createActor(rootMachine, {
    input: { services, children: opts.children ?? CHILDREN, ...(opts.flags === undefined ? {} : { flags: opts.flags }) },
    ...(opts.inspect === undefined ? {} : { inspect: opts.inspect }),
  });

  let settle!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (settle = resolve));
  root.subscribe({
    error: (error) => {
      // The root itself failed (a bug in the supervisor): one fatal line, then the service manager restarts us.
      log.fatal({ err: error }, 'root supervisor crashed');
      settle(PROCESS_EXIT_FAILURE);
    },
    complete: () => {
      const cause = root.getSnapshot().output as StopCause | undefined;
      if (cause?.kind === 'gave_up') {
        log.fatal({ child: cause.child, reason: cause.reason }, `supervisor gave up on child ${cause.child}: ${cause.reason}`);
        settle(PROCESS_EXIT_FAILURE);
      } else if (cause?.kind === 'exit_requested') {
        log.info(
          { child: cause.child, exit_code: cause.exit_code },
          `all children stopped; ${cause.child} asked to exit ${cause.exit_code}: ${cause.reason}`,
        );
        settle(cause.exit_code);
      } else {
        log.info('all children stopped');
        settle(0);
      }
    },
  });
  log.info({ pc_id: config.pcId, version: AGENT_VERSION, servers: config.natsUrls, pid: process.pid }, 'kanade-agent starting');
  root.start();

  const report = (): StatusReport =>
    projectStatus({ root: root.getSnapshot(), services, startedAt, now: Date.now(), pid: process.pid, log: logSinkStats(log) });
  let control: ControlSocket | undefined;
  try {
    control = await startControlSocket({ path: config.control.socket, report });
    log.info({ socket: control.path }, 'control socket listening');
  } catch (error) {
    root.send({ type: 'shutdown' });
    await stopped;
    await lock.release();
    throw error;
  }

  return {
    config,
    log,
    services,
    root,
    startedAt,
    report,
    childSnapshots: () => childSnapshots(root.getSnapshot()),
    stopped,
    shutdown: () => root.send({ type: 'shutdown' }),
    async dispose(exitCode, reason, detail) {
      await control?.close().catch(() => undefined);
      await writeLastExit(config.dataDir, { reason, detail, at: new Date().toISOString(), pid: process.pid, exit_code: exitCode }).catch(
        (error: unknown) => log.warn({ err: error }, `could not write ${LAST_EXIT_FILE}`),
      );
      await lock.release();
    },
  };
}

/**
 * The whole process life cycle of `kanade-agent run`; resolves with the exit code. Installs the
 * signal and uncaught-error handlers, so call it once per process.
 */
export async function runAgent(opts: RunAgentOptions = {}): Promise<number> {
  // A stop signal during start-up (the tree may already beat while the control socket opens) is
  // kept and acted on once the agent exists; the default action would end the process ungracefully.
  const early: Array<'SIGINT' | 'SIGTERM'> = [];
  const keepSigint = (): void => void early.push('SIGINT');
  const keepSigterm = (): void => void early.push('SIGTERM');
  process.on('SIGINT', keepSigint);
  process.on('SIGTERM', keepSigterm);
  let agent: RunningAgent;
  try {
    agent = await startAgent(opts);
  } catch (error) {
    process.off('SIGINT', keepSigint);
    process.off('SIGTERM', keepSigterm);
    if (error instanceof ConfigError || error instanceof ControlSocketDirError) {
      process.stderr.write(`kanade-agent: ${error.message}\n`);
      return PROCESS_EXIT_CONFIG;
    }
    if (error instanceof BootRolledBack) return PROCESS_EXIT_SELF_UPDATE;
    if (error instanceof InstanceLockedError || error instanceof ControlSocketInUseError) {
      process.stderr.write(`kanade-agent: ${error.message}\n`);
      return PROCESS_EXIT_ALREADY_RUNNING;
    }
    process.stderr.write(`kanade-agent: ${error instanceof Error ? error.message : String(error)}\n`);
    return PROCESS_EXIT_FAILURE;
  }
  const { log } = agent;
  opts.onStarted?.(agent);
  let stopReason: LastExit['reason'] = 'shutdown';
  let stopDetail: string | null = null;
  let forcedCode: number | undefined;

  const beginStop = (reason: LastExit['reason'], detail: string | null, code?: number): void => {
    if (forcedCode === undefined && code !== undefined) forcedCode = code;
    if (stopReason === 'shutdown' && reason !== 'shutdown') {
      stopReason = reason;
      stopDetail = detail;
    }
    agent.shutdown();
    // A child that ignores its grace cannot hold the process: the hard deadline ends it.
    setTimeout(() => {
      log.fatal({ deadline_ms: HARD_SHUTDOWN_DEADLINE_MS }, 'shutdown exceeded its deadline; exiting');
      process.exit(PROCESS_EXIT_FAILURE);
    }, HARD_SHUTDOWN_DEADLINE_MS).unref();
  };

  let signals = 0;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(SIGNAL_EXIT_CODES[signal]);
    }
    log.info({ signal }, 'signal received: shutting down');
    beginStop('shutdown', signal);
  };
  const onSigint = (): void => onSignal('SIGINT');
  const onSigterm = (): void => onSignal('SIGTERM');
  const onUncaught = (error: unknown): void => {
    // Counted as a crash of the root: logged once, the tree is stopped, the process exits 1.
    log.fatal({ err: error }, 'uncaught error: stopping the agent');
    beginStop('crashed', error instanceof Error ? error.message : String(error), PROCESS_EXIT_FAILURE);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.off('SIGINT', keepSigint);
  process.off('SIGTERM', keepSigterm);
  for (const signal of early.splice(0)) onSignal(signal);
  const unwatchStdin = watchStdinEof(opts.env ?? process.env, process.stdin, (why) => {
    log.info({ reason: why, env: STOP_ON_STDIN_EOF_ENV }, 'stdin closed by the service host: shutting down');
    beginStop('shutdown', why);
  });
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  const treeCode = await agent.stopped;
  const cause = agent.root.getSnapshot().output as StopCause | undefined;
  if (cause?.kind === 'gave_up') {
    stopReason = 'gave_up';
    stopDetail = `${cause.child}: ${cause.reason}`;
  } else if (cause?.kind === 'exit_requested' && stopReason === 'shutdown') {
    stopReason = 'exit_requested';
    stopDetail = `${cause.child}: ${cause.reason}`;
  } else if (agent.root.getSnapshot().status === 'error') {
    stopReason = 'crashed';
  }
  const code = forcedCode ?? treeCode;
  await agent.dispose(code, stopReason, stopDetail);
  log.info({ exit_code: code }, 'kanade-agent exiting');
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  unwatchStdin();
  return code;
}
