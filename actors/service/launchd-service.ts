/**
 * The macOS service: a LaunchDaemon (contract §10: KeepAlive.SuccessfulExit=false restarts every
 * non-zero exit, 64 included; ThrottleInterval 10). launchd has no EnvironmentFile and the plist is
 * world-readable, so, as the kanade deployment's plist does, a `/bin/sh -c` launcher reads
 * KANADE_NATS_TOKEN / KANADE_NATS_USER / KANADE_NATS_PASSWORD from /etc/kanade/agent.env as data
 * (sed, never sourced) and then execs the agent, so launchd supervises the agent itself.
 */
import { agentArgv, POSIX_BIN_PATH, POSIX_DATA_DIR, POSIX_ENV_FILE, POSIX_LOG_DIR, posixFileSteps, purgeSteps } from './systemd-service.js';
import type { AgentSource, Plan, ServiceFacts, Step } from './service-plan.js';

export const LAUNCHD_LABEL = 'com.kanade.agent';
export const LAUNCHD_PLIST_PATH = `/Library/LaunchDaemons/${LAUNCHD_LABEL}.plist`;
/** launchd's own output file: start-up failures before the agent's log is open. */
export const LAUNCHD_STDERR_PATH = `${POSIX_LOG_DIR}/kanade-agent.launchd.log`;
export const LAUNCHD_THROTTLE_INTERVAL_S = 10;
/** The secrets read from the env file; nothing else in it is used. */
export const LAUNCHD_ENV_FILE_KEYS = ['KANADE_NATS_TOKEN', 'KANADE_NATS_USER', 'KANADE_NATS_PASSWORD'] as const;

/** A POSIX shell word in single quotes. */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The `sh -c` launcher: each key read with sed (first match), exported only when non-empty, then exec. */
export function launcherScript(argv: readonly string[], envFile: string = POSIX_ENV_FILE): string {
  const reads = LAUNCHD_ENV_FILE_KEYS.map(
    (key) => `${key}="$(sed -n 's/^${key}=//p' ${shQuote(envFile)} 2>/dev/null | head -n 1)"; [ -n "$${key}" ] && export ${key};`,
  );
  return [...reads, `exec ${argv.map(shQuote).join(' ')}`].join(' ');
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Text of the LaunchDaemon plist. */
export function renderLaunchdPlist(agent: AgentSource, configPath: string): string {
  const str = (s: string) => `<string>${xml(s)}</string>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<!-- Written by `kanade-agent service install` (docs/service.md); reinstalling overwrites it. -->',
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key>${str(LAUNCHD_LABEL)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    `    ${str('/bin/sh')}`,
    `    ${str('-c')}`,
    `    ${str(launcherScript(agentArgv(agent, configPath)))}`,
    '  </array>',
    '  <key>EnvironmentVariables</key>',
    '  <dict>',
    `    <key>KANADE_AGENT_CONFIG</key>${str(configPath)}`,
    `    <key>KANADE_AGENT_DATA_DIR</key>${str(POSIX_DATA_DIR)}`,
    '  </dict>',
    `  <key>WorkingDirectory</key>${str(POSIX_DATA_DIR)}`,
    '  <key>RunAtLoad</key><true/>',
    '  <!-- Restart on every non-zero exit (crash, 64 = swapped executable); exit 0 stays down. -->',
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key><false/>',
    '  </dict>',
    `  <key>ThrottleInterval</key><integer>${LAUNCHD_THROTTLE_INTERVAL_S}</integer>`,
    '  <key>Umask</key><integer>63</integer>',
    '  <!-- The agent writes its own daily log ([log] path); launchd never rotates, so stdout is dropped. -->',
    `  <key>StandardOutPath</key>${str('/dev/null')}`,
    `  <key>StandardErrorPath</key>${str(LAUNCHD_STDERR_PATH)}`,
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

const DOMAIN_TARGET = `system/${LAUNCHD_LABEL}`;

export function launchdInstallPlan(facts: ServiceFacts): Plan {
  const agent: AgentSource = facts.self.kind === 'exe' ? { kind: 'exe', path: POSIX_BIN_PATH } : facts.self;
  const steps: Step[] = [];
  // An upgrade unloads the old job first: bootstrap refuses a label that is already loaded.
  if (facts.installed) steps.push({ op: 'run', argv: ['launchctl', 'bootout', DOMAIN_TARGET], onFail: 'ignore' });
  steps.push(
    ...posixFileSteps(facts),
    { op: 'write', path: LAUNCHD_PLIST_PATH, content: renderLaunchdPlist(agent, facts.configPath), mode: 0o644 },
    { op: 'run', argv: ['launchctl', 'enable', DOMAIN_TARGET], onFail: 'warn' },
    { op: 'run', argv: ['launchctl', 'bootstrap', 'system', LAUNCHD_PLIST_PATH], onFail: 'abort' },
  );
  return { summary: `${facts.installed ? 'upgrade' : 'install'} the LaunchDaemon ${LAUNCHD_LABEL}`, steps };
}

export function launchdUninstallPlan(facts: ServiceFacts, purge: boolean): Plan {
  const steps: Step[] = [
    { op: 'run', argv: ['launchctl', 'bootout', DOMAIN_TARGET], onFail: 'ignore' },
    { op: 'remove', path: LAUNCHD_PLIST_PATH },
  ];
  if (facts.self.kind === 'exe') steps.push({ op: 'remove', path: POSIX_BIN_PATH });
  steps.push(...purgeSteps(purge, [POSIX_DATA_DIR, POSIX_LOG_DIR], facts.configPath));
  return { summary: `uninstall the LaunchDaemon ${LAUNCHD_LABEL}`, steps };
}

export const LAUNCHD_STATUS_ARGV = ['launchctl', 'print', DOMAIN_TARGET] as const;
