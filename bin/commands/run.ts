/** `kanade-agent run`: the resident agent (the supervisor tree) in the foreground. */
import type { Command } from 'commander';

/** Registers `run`; exit codes are documented in docs/supervision.md. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the agent in the foreground (as the service manager does)')
    .option('-c, --config <file>', 'agent.toml (default: $KANADE_AGENT_CONFIG, then the OS default path)')
    .option('--inspect [port]', 'serve the state-chart inspector on 127.0.0.1 ([host:]port, default 4280; loopback only)')
    .action(async (opts: { config?: string; inspect?: string | true }) => {
      // Loaded lazily so other sub-commands (status, exec) do not load the whole tree.
      const { runAgent } = await import('../../supervisor/run-agent.js');
      // No inspection hook at all unless --inspect is given (docs/inspector.md).
      const inspector = opts.inspect === undefined ? undefined : await (await import('./inspect-option.js')).startInspectOption(opts.inspect);
      if (typeof inspector === 'number') process.exit(inspector);
      const code = await runAgent({ ...(opts.config === undefined ? {} : { configPath: opts.config }), ...(inspector && { inspect: inspector.inspect, onStarted: (agent) => inspector.setStatusSource(() => agent.report()) }) });
      // Exit explicitly: nats.js dial loops or timers of a stopped child must not keep the process up.
      process.exit(code);
    });
}
