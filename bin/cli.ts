/**
 * The `kanade-agent` command line: one sub-command per file in bin/commands/. Shared by the dist/
 * entry (bin/kanade-agent.ts) and the single-executable bundle (scripts/release.mjs), which cannot
 * use top-level await.
 */
import { Command } from 'commander';
import { registerCharts } from './commands/charts.js';
import { registerConfig } from './commands/config.js';
import { registerDev } from './commands/dev.js';
import { registerExec } from './commands/exec.js';
import { registerInventory } from './commands/inventory.js';
import { registerKill } from './commands/kill.js';
import { registerOutbox } from './commands/outbox.js';
import { registerRelease } from './commands/release.js';
import { registerRun } from './commands/run.js';
import { registerService } from './commands/service.js';
import { registerStatus } from './commands/status.js';
import { versionRequest, withDefaultCommand } from './default-command.js';
import { versionText } from './version-text.js';

function buildProgram(): Command {
  const program = new Command()
    .name('kanade-agent')
    .description(
      'Resident endpoint agent for the kanade endpoint-management system.\nWith no arguments, or only --config FILE, it runs the agent (as service managers start it).',
    )
    // Handled before commander (see main); declared here so --help lists it. `--json` is not a
    // program option: commander would take it from sub-commands (`status --json`).
    .option('-V, --version', 'print "kanade-agent <version>"; `--version --json`: version, commit, build time, Node version, platform')
    .showHelpAfterError();
  registerRun(program);
  registerDev(program);
  registerExec(program);
  registerKill(program);
  registerStatus(program);
  registerInventory(program);
  registerCharts(program);
  registerOutbox(program);
  registerService(program);
  registerRelease(program);
  registerConfig(program);
  return program;
}

/**
 * Runs the command line `argv` (process.argv shape: runtime, entry, args…). In a single
 * executable Node repeats the executable as argv[1], so both shapes are the same.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const args = argv.slice(2);
  const version = versionRequest(args);
  if (version) {
    process.stdout.write(versionText(version.json));
    return;
  }
  await buildProgram().parseAsync([argv[0] ?? process.execPath, argv[1] ?? 'kanade-agent', ...withDefaultCommand(args)]);
}
