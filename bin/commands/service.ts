/** `kanade-agent service install|uninstall|status`: the agent as a system service (docs/service.md). */
import type { Command } from 'commander';
import type { AgentSource } from '../../actors/service/service-plan.js';

interface ServiceOptions {
  config?: string;
  dryRun?: boolean;
  purge?: boolean;
}

/** This agent as the service should start it: the single executable, or node + the entry script. */
async function selfSource(): Promise<AgentSource> {
  const { isSingleExecutable } = await import('../../actors/self-command.js');
  if (isSingleExecutable() || process.argv[1] === undefined) return { kind: 'exe', path: process.execPath };
  return { kind: 'node', node: process.execPath, script: process.argv[1] };
}

async function serviceAction(action: 'install' | 'uninstall' | 'status', opts: ServiceOptions): Promise<number> {
  const svc = await import('../../actors/service/service-manager.js');
  const { applyPlan, createNodeServicePort } = await import('../../actors/service/apply-plan.js');
  const { describeStep } = await import('../../actors/service/service-plan.js');
  const print = (line: string): void => void process.stdout.write(`${line}\n`);
  const fail = (message: string): number => {
    process.stderr.write(`kanade-agent service ${action}: ${message}\n`);
    return 1;
  };
  const target = svc.serviceTarget(process.platform);
  if (target === undefined) return fail(`no service manager is supported on ${process.platform}`);
  const port = createNodeServicePort();
  // The single executable carries the Windows host as a SEA asset; an explicit override still wins.
  const embeddedHost =
    target === 'windows' && action === 'install' && !process.env[svc.SERVICE_HOST_ENV]
      ? await (await import('../../actors/service/sea-host.js')).extractSeaServiceHost()
      : undefined;
  const env = embeddedHost === undefined ? process.env : { ...process.env, [svc.SERVICE_HOST_ENV]: embeddedHost };
  const req = { target, self: await selfSource(), env, ...(opts.config === undefined ? {} : { config: opts.config }) };
  const isRoot = typeof process.getuid !== 'function' || process.getuid() === 0;

  if (!opts.dryRun) {
    const problem = await svc.checkServiceManager(target, port, isRoot);
    if (problem !== undefined) return fail(problem);
  }
  const facts = await svc.gatherFacts(req, port);
  if (action === 'status') {
    const status = await svc.serviceStatus(target, facts.installed, port);
    print(status.text);
    return status.code;
  }
  if (action === 'install' && 'hostSource' in facts && facts.hostSource === '') {
    return fail(
      `${'kanade-service-host.exe'} not found next to the agent or in build/native/ (run \`node scripts/build-native.mjs\` or set ${svc.SERVICE_HOST_ENV})`,
    );
  }
  const plan = action === 'install' ? svc.installPlan(target, facts) : svc.uninstallPlan(target, facts, opts.purge === true);
  if (opts.dryRun) {
    print(`would ${plan.summary}:`);
    for (const step of plan.steps) {
      print(`  ${describeStep(step)}`);
      if (step.op === 'write') print(step.content.replace(/^/gm, '    | ').trimEnd());
    }
    return 0;
  }
  const outcome = await applyPlan(plan, port, print);
  if (!outcome.ok) return fail(`${outcome.failed ?? 'failed'} (the steps before it were done; running the command again is safe)`);
  print(outcome.warnings.length === 0 ? `done` : `done with ${outcome.warnings.length} warning(s)`);
  return 0;
}

/** Registers `service` and its three sub-commands. */
export function registerService(program: Command): void {
  const service = program
    .command('service')
    .description('install, uninstall or query the agent as a system service (Windows service, systemd, launchd)');
  const common = (cmd: Command): Command =>
    cmd
      .option('-c, --config <file>', 'agent.toml the service uses (default: the OS default path)')
      .option('--dry-run', 'print what would be done, change nothing');
  common(service.command('install').description('install the service, or upgrade it in place, and start it')).action(
    async (opts: ServiceOptions) => process.exit(await serviceAction('install', opts)),
  );
  common(service.command('uninstall').description('stop and remove the service (keeps data and logs unless --purge)'))
    .option('--purge', 'also remove the data and log directories')
    .action(async (opts: ServiceOptions) => process.exit(await serviceAction('uninstall', opts)));
  service
    .command('status')
    .description("the service manager's view: exit 0 running, 3 not running, 4 not installed")
    .option('-c, --config <file>', 'agent.toml the service uses')
    .action(async (opts: ServiceOptions) => process.exit(await serviceAction('status', opts)));
}
