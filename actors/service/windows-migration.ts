/**
 * Migration from the Rust agent's Windows service, which points straight at `kanade-agent.exe`.
 * Our executable cannot talk to the service manager, so started that way it would be killed
 * (error 1053) and restarted forever. Instead, at start (not under the service host, whose
 * KANADE_AGENT_STOP_ON_STDIN_EOF=1 says where we are), it checks the KanadeAgent ImagePath; when
 * that names this very executable it installs the host next to it, repoints the service at the
 * host (keeping the original command line after it), sets the failure actions, and the caller exits
 * non-zero so the failure actions restart the service — now through the host. docs/service.md.
 */
import { applyPlan, type ServicePort } from './apply-plan.js';
import type { AgentSource, Plan, Step } from './service-plan.js';
import { stopOnStdinEof } from '../stdin-stop.js';
import {
  parseImagePath,
  WINDOWS_SERVICE_KEY,
  WINDOWS_SERVICE_NAME,
  windowsArg,
  windowsLayout,
  windowsRecoverySteps,
} from './windows-service.js';

/** Exit code after a migration: non-zero, so the service manager's failure actions restart us. */
export const MIGRATION_EXIT_CODE = 1;

export type MigrationOutcome =
  | { readonly kind: 'not-needed' }
  | { readonly kind: 'migrated'; readonly imagePath: string; readonly binPath: string }
  | { readonly kind: 'failed'; readonly error: string };

/** The program of a Windows command line (first token, quotes removed). */
export function commandProgram(commandLine: string): string {
  const line = commandLine.trimStart();
  if (line.startsWith('"')) {
    const end = line.indexOf('"', 1);
    return end < 0 ? line.slice(1) : line.slice(1, end);
  }
  return line.split(/[ \t]/, 1)[0] ?? '';
}

/** The plan that puts the host in front of `imagePath` (the Rust agent's command line, kept verbatim). */
export function migrationPlan(env: NodeJS.ProcessEnv, imagePath: string, hostSource: string | undefined): { plan: Plan; binPath: string } {
  const layout = windowsLayout(env);
  const binPath = `${windowsArg(layout.hostExe)} --log ${windowsArg(layout.hostLog)} ${imagePath.trim()}`;
  const steps: Step[] = [{ op: 'mkdir', path: layout.logDir, mode: 0o700 }];
  if (hostSource !== undefined && hostSource.toLowerCase() !== layout.hostExe.toLowerCase()) {
    steps.push({ op: 'mkdir', path: layout.installDir, mode: 0o755 }, { op: 'copy', from: hostSource, to: layout.hostExe, mode: 0o755 });
  }
  steps.push(
    { op: 'run', argv: ['sc.exe', 'config', WINDOWS_SERVICE_NAME, 'binPath=', binPath], onFail: 'abort' },
    ...windowsRecoverySteps(),
  );
  return { plan: { summary: `migrate the ${WINDOWS_SERVICE_NAME} service to the service host`, steps }, binPath };
}

/** Checks and, when the service runs this executable directly, migrates it. Never throws. */
export async function migrateDirectService(input: {
  readonly env: NodeJS.ProcessEnv;
  readonly self: AgentSource;
  readonly port: ServicePort;
  /** Where to take the host from (the single executable's asset, or a file next to the agent). */
  readonly hostSource?: string;
  readonly print: (line: string) => void;
}): Promise<MigrationOutcome> {
  const { env, self, port } = input;
  if (stopOnStdinEof(env) || self.kind !== 'exe') return { kind: 'not-needed' };
  try {
    const reg = await port.run(['reg', 'query', WINDOWS_SERVICE_KEY, '/v', 'ImagePath']);
    const imagePath = reg.code === 0 ? parseImagePath(reg.stdout) : undefined;
    if (imagePath === undefined || commandProgram(imagePath).toLowerCase() !== self.path.toLowerCase()) return { kind: 'not-needed' };
    const hostExe = windowsLayout(env).hostExe;
    if (input.hostSource === undefined && !(await port.exists(hostExe))) {
      return { kind: 'failed', error: `the service runs ${self.path} directly, but no service host is available to put in front of it` };
    }
    const { plan, binPath } = migrationPlan(env, imagePath, input.hostSource);
    const outcome = await applyPlan(plan, port, input.print);
    return outcome.ok ? { kind: 'migrated', imagePath, binPath } : { kind: 'failed', error: outcome.failed ?? 'migration failed' };
  } catch (error) {
    return { kind: 'failed', error: error instanceof Error ? error.message : String(error) };
  }
}
