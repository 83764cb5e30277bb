/** `kanade-agent run`: the resident agent (the supervisor tree) in the foreground. */
import type { Command } from 'commander';

/** Registers `run`; exit codes are documented in docs/supervision.md. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the agent in the foreground (as the service manager does)')
    .option('-c, --config <file>', 'agent.toml (default: $KANADE_AGENT_CONFIG, then the OS default path)')
    .action(async (opts: { config?: string }) => {
      // Loaded lazily so other sub-commands (status, exec) do not load the whole tree.
      const { runAgent } = await import('../../supervisor/run-agent.js');
      const code = await runAgent(opts.config === undefined ? {} : { configPath: opts.config });
      // Exit explicitly: nats.js dial loops or timers of a stopped child must not keep the process up.
      process.exit(code);
    });
}
