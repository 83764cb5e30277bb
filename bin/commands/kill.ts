/**
 * `kanade-agent kill <exec_id>`: publishes `kill.<exec_id>` (contract §3: any payload is a kill) so
 * every agent running a command with that exec_id ends it (§8.4: result -1, `killed by remote signal`).
 * A core publish has no receipt: the command says it was sent, and `exec` shows the result.
 */
import { connect } from '@nats-io/transport-node';
import type { Command } from 'commander';
import { describeConnectError } from '../../actors/connect-error.js';
import { authOrder, natsConnectOptions } from '../../actors/nats-options.js';
import { subjectTokenProblem } from '../../contract/subject-token.js';
import { subjects } from '../../contract/index.js';
import { DEFAULT_EXEC_NATS_URL, EXEC_EXIT, resolveBroker, type Broker } from './exec.js';

/** Registers `kill`. */
export function registerKill(program: Command): void {
  program
    .command('kill')
    .description('stop the runs of a command by its exec_id (publishes kill.<exec_id>)')
    .argument('<exec_id>', 'the exec_id given to `exec --exec-id`')
    .option('--nats <url>', `NATS server URL (default: the running \`kanade-agent dev\`'s broker, else ${DEFAULT_EXEC_NATS_URL})`)
    .option('--token-file <file>', "read the NATS token from this file (default: the running dev's token file, else KANADE_NATS_TOKEN)")
    .action(async (execId: string, opts: { nats?: string; tokenFile?: string }) => {
      process.exitCode = await runKill(execId, opts);
    });
}

async function runKill(execId: string, opts: { nats?: string; tokenFile?: string }): Promise<number> {
  const problem = subjectTokenProblem(execId);
  if (problem !== undefined) {
    process.stderr.write(`kanade-agent kill: exec_id ${JSON.stringify(execId)} is not a single NATS subject token: it ${problem}\n`);
    return EXEC_EXIT.usage;
  }
  let broker: Broker;
  try {
    broker = await resolveBroker(opts);
  } catch (err) {
    process.stderr.write(`kanade-agent kill: ${(err as Error).message}\n`);
    return EXEC_EXIT.usage;
  }
  const { url, credentials } = broker;
  let nc;
  try {
    nc = await connect({ ...natsConnectOptions([url], 'kanade-agent-kill', credentials), timeout: 5_000 });
  } catch (err) {
    process.stderr.write(
      `kanade-agent kill: cannot connect to ${url}: ${describeConnectError(err, authOrder(credentials)[0] ?? 'none')}\n`,
    );
    return EXEC_EXIT.unavailable;
  }
  try {
    nc.publish(subjects.kill(execId));
    await nc.flush();
  } finally {
    await nc.close();
  }
  process.stderr.write(
    `kanade-agent kill: sent ${subjects.kill(execId)} on ${url}; runs with that exec_id end with exit -1 "killed by remote signal" (see their results in exec)\n`,
  );
  return 0;
}
