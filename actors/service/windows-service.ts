/**
 * The Windows service `KanadeAgent` (contract §10, §11): the executable and the service host in
 * `C:\Program Files\Kanade\`, the service pointing at the host, which runs the agent
 * (native/kanade-service-host.c); failure actions restart/5000/restart/15000/restart/60000 with
 * failureflag 1, so a non-zero SERVICE_STOPPED from the host is restarted.
 */
import path from 'node:path';
import { exampleAgentToml } from './example-config.js';
import { agentArgv } from './systemd-service.js';
import type { AgentSource, Plan, ServiceFacts, Step } from './service-plan.js';

export const WINDOWS_SERVICE_NAME = 'KanadeAgent';
export const WINDOWS_DISPLAY_NAME = 'Kanade Agent';
export const WINDOWS_DESCRIPTION = 'kanade endpoint agent (runs kanade-agent.exe through kanade-service-host.exe)';
export const HOST_EXE_NAME = 'kanade-service-host.exe';
export const AGENT_EXE_NAME = 'kanade-agent.exe';
/** §10: the kanade deployment's failure actions. */
export const WINDOWS_FAILURE_ACTIONS = 'restart/5000/restart/15000/restart/60000';
/** Failure count reset period (seconds): a day without failures starts the action list over. */
export const WINDOWS_FAILURE_RESET_S = 86_400;
/** Where the service's ImagePath lives (read with `reg query`; `sc qc` is not available under Wine). */
export const WINDOWS_SERVICE_KEY = `HKLM\\SYSTEM\\CurrentControlSet\\Services\\${WINDOWS_SERVICE_NAME}`;

/** Windows paths (§11), from %ProgramFiles% and %ProgramData%. */
export interface WindowsLayout {
  readonly installDir: string;
  readonly agentExe: string;
  readonly hostExe: string;
  readonly configDir: string;
  readonly dataDir: string;
  readonly logDir: string;
  /** The agent's stdout/stderr, appended by the host (start-up failures before its log is open). */
  readonly hostLog: string;
}

export function windowsLayout(env: NodeJS.ProcessEnv): WindowsLayout {
  const programFiles = env.ProgramFiles || env.PROGRAMFILES || 'C:\\Program Files';
  const programData = env.ProgramData || env.PROGRAMDATA || 'C:\\ProgramData';
  const installDir = path.win32.join(programFiles, 'Kanade');
  const root = path.win32.join(programData, 'Kanade');
  return {
    installDir,
    agentExe: path.win32.join(installDir, AGENT_EXE_NAME),
    hostExe: path.win32.join(installDir, HOST_EXE_NAME),
    configDir: path.win32.join(root, 'config'),
    dataDir: path.win32.join(root, 'data'),
    logDir: path.win32.join(root, 'logs'),
    hostLog: path.win32.join(root, 'logs', 'kanade-agent.service.log'),
  };
}

/** One argument in a Windows command line (CommandLineToArgvW rules). */
export function windowsArg(arg: string): string {
  if (arg !== '' && !/[\s"]/.test(arg)) return arg;
  return `"${arg.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1')}"`;
}

/** The service's command line: the host, its log option, then the agent's command line. */
export function windowsBinPath(layout: WindowsLayout, agent: AgentSource, configPath: string): string {
  return [layout.hostExe, '--log', layout.hostLog, ...agentArgv(agent, configPath)].map(windowsArg).join(' ');
}

/** Windows facts on top of the common ones. */
export interface WindowsFacts extends ServiceFacts {
  readonly layout: WindowsLayout;
  /** The host executable to install (next to the agent, or build/native/ in a checkout). */
  readonly hostSource: string;
  /** The service's current ImagePath, when installed and readable. */
  readonly imagePath?: string;
}

function installedAgent(facts: WindowsFacts): AgentSource {
  return facts.self.kind === 'exe' ? { kind: 'exe', path: facts.layout.agentExe } : facts.self;
}

const sc = (...args: string[]): string[] => ['sc.exe', ...args];
const STOPPED_OR_GONE = /STATE\s*:\s*1\s|1060|does not exist/i;

/** Stop the service and wait for STOPPED (the host gives the agent 12 s, then kills the job). */
function stopSteps(): Step[] {
  return [
    { op: 'run', argv: sc('stop', WINDOWS_SERVICE_NAME), onFail: 'ignore' },
    {
      op: 'waitFor',
      argv: sc('query', WINDOWS_SERVICE_NAME),
      until: STOPPED_OR_GONE,
      what: `${WINDOWS_SERVICE_NAME} to stop`,
      timeoutMs: 30_000,
    },
  ];
}

export function windowsInstallPlan(facts: WindowsFacts): Plan {
  const { layout } = facts;
  const binPath = windowsBinPath(layout, installedAgent(facts), facts.configPath);
  const steps: Step[] = facts.installed ? stopSteps() : [];
  steps.push(
    { op: 'mkdir', path: layout.installDir, mode: 0o755 },
    { op: 'mkdir', path: layout.configDir, mode: 0o700 },
    { op: 'mkdir', path: layout.dataDir, mode: 0o700 },
    { op: 'mkdir', path: layout.logDir, mode: 0o700 },
  );
  if (facts.self.kind === 'exe' && facts.self.path.toLowerCase() !== layout.agentExe.toLowerCase()) {
    steps.push({ op: 'copy', from: facts.self.path, to: layout.agentExe, mode: 0o755 });
  }
  steps.push({ op: 'copy', from: facts.hostSource, to: layout.hostExe, mode: 0o755 });
  if (!facts.configExists) {
    steps.push(
      {
        op: 'write',
        path: facts.configPath,
        content: exampleAgentToml(path.win32.join(layout.logDir, 'agent.log')),
        mode: 0o600,
        onlyIfMissing: true,
      },
      { op: 'note', text: `wrote an example ${facts.configPath}: set nats_url in it, then restart the service` },
    );
  }
  if (!facts.installed) {
    steps.push({
      op: 'run',
      argv: sc('create', WINDOWS_SERVICE_NAME, 'binPath=', binPath, 'start=', 'auto', 'DisplayName=', WINDOWS_DISPLAY_NAME),
      onFail: 'abort',
    });
  } else if (facts.imagePath === undefined || facts.imagePath !== binPath) {
    // The Rust agent's service (ImagePath = kanade-agent.exe) is repointed at the host here.
    steps.push({ op: 'run', argv: sc('config', WINDOWS_SERVICE_NAME, 'binPath=', binPath, 'start=', 'auto'), onFail: 'abort' });
  }
  steps.push(...windowsRecoverySteps(), { op: 'run', argv: sc('start', WINDOWS_SERVICE_NAME), onFail: 'abort' });
  return { summary: `${facts.installed ? 'upgrade' : 'install'} the Windows service ${WINDOWS_SERVICE_NAME}`, steps };
}

/** Description and failure actions; a failure is a warning (the service still runs; Wine lacks failureflag). */
export function windowsRecoverySteps(): Step[] {
  return [
    { op: 'run', argv: sc('description', WINDOWS_SERVICE_NAME, WINDOWS_DESCRIPTION), onFail: 'warn' },
    {
      op: 'run',
      argv: sc('failure', WINDOWS_SERVICE_NAME, 'reset=', String(WINDOWS_FAILURE_RESET_S), 'actions=', WINDOWS_FAILURE_ACTIONS),
      onFail: 'warn',
    },
    { op: 'run', argv: sc('failureflag', WINDOWS_SERVICE_NAME, '1'), onFail: 'warn' },
  ];
}

export function windowsUninstallPlan(facts: WindowsFacts, purge: boolean): Plan {
  const { layout } = facts;
  const steps: Step[] = [
    ...stopSteps(),
    // 1060: the service does not exist — already uninstalled.
    { op: 'run', argv: sc('delete', WINDOWS_SERVICE_NAME), onFail: 'abort', okCodes: [0, 1060] },
    { op: 'remove', path: layout.hostExe },
  ];
  if (facts.self.kind === 'exe') steps.push({ op: 'remove', path: layout.agentExe }, { op: 'remove', path: `${layout.agentExe}.old` });
  steps.push({ op: 'rmdirIfEmpty', path: layout.installDir });
  if (purge) steps.push({ op: 'remove', path: layout.dataDir, recursive: true }, { op: 'remove', path: layout.logDir, recursive: true });
  steps.push({
    op: 'note',
    text: purge
      ? `kept ${facts.configPath}`
      : `kept ${layout.dataDir}, ${layout.logDir} and ${facts.configPath} (--purge removes the data and logs)`,
  });
  return { summary: `uninstall the Windows service ${WINDOWS_SERVICE_NAME}`, steps };
}

/** The ImagePath in `reg query … /v ImagePath` output. */
export function parseImagePath(output: string): string | undefined {
  const m = /^\s*ImagePath\s+REG_(?:EXPAND_)?SZ\s+(.*?)\s*$/m.exec(output);
  return m?.[1];
}

export const WINDOWS_STATUS_ARGV = ['sc.exe', 'query', WINDOWS_SERVICE_NAME] as const;
