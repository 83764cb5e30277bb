/** `kanade-agent run`: the resident agent (the supervisor tree). */
import type { Command } from 'commander';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the agent in the foreground (as the service manager does)')
    .option('-c, --config <file>', 'agent.toml (default: $KANADE_AGENT_CONFIG, then the OS default path)')
    .action(async () => {
      process.stderr.write('kanade-agent run: the supervisor is not built yet\n');
      process.exitCode = 1;
    });
}
