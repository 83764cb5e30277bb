/**
 * `kanade-agent service install|uninstall|status`: picks the service manager for the platform,
 * checks it is there (before anything is written), gathers the facts and returns the plan.
 *
 * @example
 * const target = serviceTarget(process.platform);
 * const problem = await checkServiceManager(target, port, isRoot);
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServicePort } from './apply-plan.js';
import { LAUNCHD_PLIST_PATH, LAUNCHD_STATUS_ARGV, launchdInstallPlan, launchdUninstallPlan } from './launchd-service.js';
import type { AgentSource, Plan, ServiceFacts } from './service-plan.js';
import {
  POSIX_CONFIG_PATH,
  SYSTEMD_STATUS_ARGV,
  SYSTEMD_UNIT_NAME,
  SYSTEMD_UNIT_PATH,
  systemdInstallPlan,
  systemdUninstallPlan,
} from './systemd-service.js';
import {
  HOST_EXE_NAME,
  parseImagePath,
  WINDOWS_SERVICE_KEY,
  WINDOWS_SERVICE_NAME,
  WINDOWS_STATUS_ARGV,
  windowsInstallPlan,
  windowsLayout,
  windowsUninstallPlan,
  type WindowsFacts,
} from './windows-service.js';

export type ServiceTarget = 'windows' | 'systemd' | 'launchd';

/** Overrides where the Windows service host is taken from (tests, packagers). */
export const SERVICE_HOST_ENV = 'KANADE_SERVICE_HOST_EXE';
/** The checkout's build output (scripts/build-native.mjs), for installs from dist/. */
const BUILT_HOST = fileURLToPath(new URL(`../../../build/native/${HOST_EXE_NAME}`, import.meta.url));

export function serviceTarget(platform: NodeJS.Platform): ServiceTarget | undefined {
  if (platform === 'win32') return 'windows';
  if (platform === 'linux') return 'systemd';
  if (platform === 'darwin') return 'launchd';
  return undefined;
}

/** What the command was asked. */
export interface ServiceRequest {
  readonly target: ServiceTarget;
  readonly self: AgentSource;
  readonly env: NodeJS.ProcessEnv;
  readonly config?: string;
}

/**
 * Why the service manager cannot be used, or undefined. Runs before any step, so an absent manager
 * (a container without systemd) leaves the machine untouched.
 */
export async function checkServiceManager(target: ServiceTarget, port: ServicePort, isRoot: boolean): Promise<string | undefined> {
  if (target === 'systemd') {
    if (!(await port.exists('/run/systemd/system')))
      return 'systemd is not running on this machine (no /run/systemd/system): cannot manage the kanade-agent service';
    if ((await port.run(['systemctl', '--version'])).code !== 0)
      return 'systemctl is not available: cannot manage the kanade-agent service';
  } else if (target === 'launchd') {
    if ((await port.run(['launchctl', 'version'])).code === 127)
      return 'launchctl is not available: cannot manage the kanade-agent LaunchDaemon';
  } else if ((await port.run(['sc.exe', 'query', 'type=', 'service', 'state=', 'all'])).code === 127) {
    return 'sc.exe is not available: cannot manage the KanadeAgent service';
  }
  if (!isRoot && target !== 'windows') return 'installing a system service needs root: run it with sudo';
  return undefined;
}

function defaultConfigPath(req: ServiceRequest): string {
  if (req.config !== undefined && req.config !== '') {
    return req.target === 'windows' ? path.win32.resolve(req.config) : path.posix.resolve(req.config);
  }
  return req.target === 'windows' ? path.win32.join(windowsLayout(req.env).configDir, 'agent.toml') : POSIX_CONFIG_PATH;
}

/** Where the Windows host executable comes from: override, next to the agent, the checkout's build. */
export async function findServiceHost(req: ServiceRequest, port: ServicePort): Promise<string | undefined> {
  const candidates = [
    req.env[SERVICE_HOST_ENV],
    req.self.kind === 'exe' ? path.win32.join(path.win32.dirname(req.self.path), HOST_EXE_NAME) : undefined,
    BUILT_HOST,
  ].filter((c): c is string => c !== undefined && c !== '');
  for (const candidate of candidates) if (await port.exists(candidate)) return candidate;
  return undefined;
}

/** The facts every planner needs, read from the machine. */
export async function gatherFacts(req: ServiceRequest, port: ServicePort): Promise<ServiceFacts | WindowsFacts> {
  const configPath = defaultConfigPath(req);
  const configExists = await port.exists(configPath);
  if (req.target === 'windows') {
    const installed = (await port.run(['sc.exe', 'query', WINDOWS_SERVICE_NAME])).code === 0;
    const reg = installed ? await port.run(['reg', 'query', WINDOWS_SERVICE_KEY, '/v', 'ImagePath']) : undefined;
    const imagePath = reg?.code === 0 ? parseImagePath(reg.stdout) : undefined;
    const hostSource = (await findServiceHost(req, port)) ?? '';
    return {
      self: req.self,
      configPath,
      configExists,
      installed,
      layout: windowsLayout(req.env),
      hostSource,
      ...(imagePath === undefined ? {} : { imagePath }),
    };
  }
  const installed = await port.exists(req.target === 'systemd' ? SYSTEMD_UNIT_PATH : LAUNCHD_PLIST_PATH);
  return { self: req.self, configPath, configExists, installed };
}

export function installPlan(target: ServiceTarget, facts: ServiceFacts | WindowsFacts): Plan {
  if (target === 'windows') return windowsInstallPlan(facts as WindowsFacts);
  return target === 'systemd' ? systemdInstallPlan(facts) : launchdInstallPlan(facts);
}

export function uninstallPlan(target: ServiceTarget, facts: ServiceFacts | WindowsFacts, purge: boolean): Plan {
  if (target === 'windows') return windowsUninstallPlan(facts as WindowsFacts, purge);
  return target === 'systemd' ? systemdUninstallPlan(facts, purge) : launchdUninstallPlan(facts, purge);
}

/** `service status` exit codes (LSB, as `systemctl is-active`): running, installed but not running, absent. */
export const STATUS_RUNNING = 0;
export const STATUS_NOT_RUNNING = 3;
export const STATUS_NOT_INSTALLED = 4;

/** The manager's own status text and an exit code. */
export async function serviceStatus(target: ServiceTarget, installed: boolean, port: ServicePort): Promise<{ code: number; text: string }> {
  if (!installed) return { code: STATUS_NOT_INSTALLED, text: 'the kanade-agent service is not installed' };
  if (target === 'windows') {
    const r = await port.run(WINDOWS_STATUS_ARGV);
    return { code: /STATE\s*:\s*4\s/.test(r.stdout) ? STATUS_RUNNING : STATUS_NOT_RUNNING, text: r.stdout.trim() };
  }
  if (target === 'systemd') {
    const active = await port.run(['systemctl', 'is-active', SYSTEMD_UNIT_NAME]);
    const r = await port.run(SYSTEMD_STATUS_ARGV);
    return { code: active.code === 0 ? STATUS_RUNNING : STATUS_NOT_RUNNING, text: (r.stdout || r.stderr).trim() };
  }
  const r = await port.run(LAUNCHD_STATUS_ARGV);
  return { code: /\bstate = running\b/.test(r.stdout) ? STATUS_RUNNING : STATUS_NOT_RUNNING, text: (r.stdout || r.stderr).trim() };
}
