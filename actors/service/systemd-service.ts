/**
 * The Linux service: a systemd unit with the restart rules of contract §10 (Restart=on-failure;
 * exit 78, a broken config, is not restarted), paths of §11, installed with daemon-reload and
 * `enable --now`.
 *
 * @example
 * const plan = systemdInstallPlan(facts); // then applyPlan(plan, port)
 */
import { exampleAgentToml } from './example-config.js';
import type { AgentSource, Plan, ServiceFacts, Step } from './service-plan.js';

export const SYSTEMD_UNIT_NAME = 'kanade-agent.service';
export const SYSTEMD_UNIT_PATH = `/etc/systemd/system/${SYSTEMD_UNIT_NAME}`;
/** Where the executable is copied (as the kanade deployment scripts do). */
export const POSIX_BIN_PATH = '/usr/local/bin/kanade-agent';
export const POSIX_CONFIG_DIR = '/etc/kanade';
export const POSIX_CONFIG_PATH = `${POSIX_CONFIG_DIR}/agent.toml`;
/** KANADE_NATS_TOKEN and friends, root-only (0600); optional. */
export const POSIX_ENV_FILE = `${POSIX_CONFIG_DIR}/agent.env`;
/** The installers' data dir (§11), kept apart from a co-located backend's /var/lib/kanade. */
export const POSIX_DATA_DIR = '/var/lib/kanade-agent';
export const POSIX_LOG_DIR = '/var/log/kanade';
export const POSIX_LOG_PATH = `${POSIX_LOG_DIR}/agent.log`;
/** Seconds systemd waits after SIGTERM: the agent's own hard deadline is 10 s. */
export const SYSTEMD_TIMEOUT_STOP_SEC = 15;
export const SYSTEMD_RESTART_SEC = 5;

/** One ExecStart= word: quoted when needed, with systemd's `%` and `$` specifiers escaped. */
export function systemdWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"'\\;]/.test(escaped) || escaped === '' ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}

/** The agent's argv as the service starts it. */
export function agentArgv(agent: AgentSource, configPath: string): string[] {
  const run = ['run', '--config', configPath];
  return agent.kind === 'exe' ? [agent.path, ...run] : [agent.node, agent.script, ...run];
}

/** The paths a unit names (tests point them into a temp dir). */
export interface UnitPaths {
  readonly envFile: string;
  readonly dataDir: string;
}
export const DEFAULT_UNIT_PATHS: UnitPaths = { envFile: POSIX_ENV_FILE, dataDir: POSIX_DATA_DIR };

/** Text of the unit file. */
export function renderSystemdUnit(agent: AgentSource, configPath: string, paths: UnitPaths = DEFAULT_UNIT_PATHS): string {
  return [
    '# Written by `kanade-agent service install` (docs/service.md); reinstalling overwrites it.',
    '[Unit]',
    'Description=kanade endpoint agent',
    'After=network-online.target',
    'Wants=network-online.target',
    '# Never give up restarting (the agent backs off on its own).',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=exec',
    `EnvironmentFile=-${paths.envFile}`,
    `Environment=${systemdWord(`KANADE_AGENT_DATA_DIR=${paths.dataDir}`)}`,
    `ExecStart=${agentArgv(agent, configPath).map(systemdWord).join(' ')}`,
    `WorkingDirectory=${paths.dataDir}`,
    '# Exit 64 (self-update swapped the executable) and crashes restart; exit 0 and 78 (bad config) do not.',
    'Restart=on-failure',
    `RestartSec=${SYSTEMD_RESTART_SEC}`,
    'RestartPreventExitStatus=78',
    '# SIGTERM to the agent only; whatever is left of its scripts is killed after the stop.',
    'KillMode=mixed',
    `TimeoutStopSec=${SYSTEMD_TIMEOUT_STOP_SEC}`,
    'UMask=0077',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The agent as the unit runs it: the installed copy of an executable, node + script as they are. */
function installedAgent(self: AgentSource): AgentSource {
  return self.kind === 'exe' ? { kind: 'exe', path: POSIX_BIN_PATH } : self;
}

/** Steps shared by systemd and launchd: the executable, directories, the example config. */
export function posixFileSteps(facts: ServiceFacts): Step[] {
  const steps: Step[] = [
    { op: 'mkdir', path: POSIX_CONFIG_DIR, mode: 0o755 },
    { op: 'mkdir', path: POSIX_DATA_DIR, mode: 0o700 },
    { op: 'mkdir', path: POSIX_LOG_DIR, mode: 0o700 },
  ];
  if (facts.self.kind === 'exe' && facts.self.path !== POSIX_BIN_PATH) {
    steps.push({ op: 'copy', from: facts.self.path, to: POSIX_BIN_PATH, mode: 0o755 });
  }
  if (!facts.configExists) {
    steps.push(
      { op: 'write', path: facts.configPath, content: exampleAgentToml(POSIX_LOG_PATH), mode: 0o600, onlyIfMissing: true },
      { op: 'note', text: `wrote an example ${facts.configPath}: set nats_url in it, then restart the service` },
    );
  }
  return steps;
}

export function systemdInstallPlan(facts: ServiceFacts): Plan {
  const steps: Step[] = [
    ...posixFileSteps(facts),
    { op: 'write', path: SYSTEMD_UNIT_PATH, content: renderSystemdUnit(installedAgent(facts.self), facts.configPath), mode: 0o644 },
    { op: 'run', argv: ['systemctl', 'daemon-reload'], onFail: 'abort' },
    { op: 'run', argv: ['systemctl', 'enable', '--now', SYSTEMD_UNIT_NAME], onFail: 'abort' },
  ];
  // enable --now leaves a running old version alone: an upgrade restarts it onto the new files.
  if (facts.installed) steps.push({ op: 'run', argv: ['systemctl', 'restart', SYSTEMD_UNIT_NAME], onFail: 'abort' });
  return { summary: `${facts.installed ? 'upgrade' : 'install'} the systemd unit ${SYSTEMD_UNIT_NAME}`, steps };
}

export function systemdUninstallPlan(facts: ServiceFacts, purge: boolean): Plan {
  const steps: Step[] = [
    { op: 'run', argv: ['systemctl', 'disable', '--now', SYSTEMD_UNIT_NAME], onFail: 'ignore' },
    { op: 'remove', path: SYSTEMD_UNIT_PATH },
    { op: 'run', argv: ['systemctl', 'daemon-reload'], onFail: 'warn' },
    { op: 'run', argv: ['systemctl', 'reset-failed', SYSTEMD_UNIT_NAME], onFail: 'ignore' },
  ];
  if (facts.self.kind === 'exe') steps.push({ op: 'remove', path: POSIX_BIN_PATH });
  steps.push(...purgeSteps(purge, [POSIX_DATA_DIR, POSIX_LOG_DIR], facts.configPath));
  return { summary: `uninstall the systemd unit ${SYSTEMD_UNIT_NAME}`, steps };
}

/** `--purge` removes data and logs; the config (the operator's) is always kept. */
export function purgeSteps(purge: boolean, dirs: readonly string[], configPath: string): Step[] {
  if (!purge) return [{ op: 'note', text: `kept ${dirs.join(', ')} and ${configPath} (--purge removes the data and logs)` }];
  return [...dirs.map((path): Step => ({ op: 'remove', path, recursive: true })), { op: 'note', text: `kept ${configPath}` }];
}

/** `systemctl is-active`: 0 active, 3 inactive, 4 no such unit (LSB codes, as `service status` returns). */
export const SYSTEMD_STATUS_ARGV = ['systemctl', 'status', '--no-pager', SYSTEMD_UNIT_NAME] as const;
