#!/usr/bin/env node
/** The `kanade-agent` command line: one sub-command per file in bin/commands/. */
import { Command } from 'commander';
import { AGENT_VERSION } from '../actors/version.js';
import { registerCharts } from './commands/charts.js';
import { registerDev } from './commands/dev.js';
import { registerExec } from './commands/exec.js';
import { registerInventory } from './commands/inventory.js';
import { registerOutbox } from './commands/outbox.js';
import { registerRun } from './commands/run.js';
import { registerStatus } from './commands/status.js';

const program = new Command()
  .name('kanade-agent')
  .description('Resident endpoint agent for the kanade endpoint-management system')
  .version(AGENT_VERSION, '-V, --version')
  .showHelpAfterError();

registerRun(program);
registerDev(program);
registerExec(program);
registerStatus(program);
registerInventory(program);
registerCharts(program);
registerOutbox(program);

await program.parseAsync(process.argv);
