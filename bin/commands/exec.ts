/**
 * `kanade-agent exec`: the operator's tool for trying an agent, like `kanade run`. Publishes one
 * contract Command and prints each ExecResult as it arrives, following object-store pointers.
 */
import { readFile } from 'node:fs/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { type Command as Cli, Option } from 'commander';
import {
  decodeExecResult, describeDecodeError, OBJ_RESULT_OUTPUT, SHELLS, subjects, type ExecResult, type Shell,
} from '../../contract/index.js';
import { commandBytes, draftCommand, publishCommand, type SigningKey } from '../../actors/command-publisher.js';
import { parseSigningKey } from '../../actors/ed25519.js';
import { credentialsFromEnv, natsConnectOptions } from '../../actors/nats-options.js';

/** Where `exec` connects when `--nats` is not given: the `dev` broker's usual address. */
export const DEFAULT_EXEC_NATS_URL = 'nats://127.0.0.1:4222';
/** How long to wait for results beyond the script's own timeout. */
const RESULT_GRACE_SECS = 30;

interface ExecOptions {
  nats: string;
  pc?: string;
  all?: boolean;
  group?: string;
  shell: Shell;
  timeout: string;
  wait?: string;
  execId?: string;
  signKey?: string;
  kid?: string;
  json?: boolean;
  tokenFile?: string;
}

export function registerExec(program: Cli): void {
  program
    .command('exec')
    .description('publish a command to agents and print each result as it arrives')
    .argument('<script...>', 'the script (after --)')
    .option('--nats <url>', 'NATS server URL', DEFAULT_EXEC_NATS_URL)
    .option('--pc <id>', 'send to one PC (commands.pc.<id>); exits after its result')
    .option('--all', 'send to every PC (commands.all)')
    .option('--group <g>', 'send to a group (commands.group.<g>)')
    .addOption(new Option('--shell <shell>', 'shell').choices([...SHELLS]).default(process.platform === 'win32' ? 'powershell' : 'sh'))
    .option('--timeout <secs>', 'script timeout in seconds', '60')
    .option('--wait <secs>', `how long to wait for results (default: timeout + ${RESULT_GRACE_SECS})`)
    .option('--exec-id <id>', 'set exec_id (enables EventStarted and kill.<exec_id>)')
    .option('--sign-key <file>', 'Ed25519 signing key: base64 32-byte seed or PEM PKCS#8')
    .option('--kid <kid>', 'key id for --sign-key')
    .option('--json', 'print each result as one JSON line')
    .option('--token-file <file>', 'read the NATS token from this file (kanade-agent dev writes one, mode 0600); else KANADE_NATS_TOKEN')
    .action(async (script: string[], opts: ExecOptions) => {
      process.exitCode = await runExec(script.join(' '), opts);
    });
}

async function runExec(script: string, opts: ExecOptions): Promise<number> {
  const targets = [opts.pc, opts.all, opts.group].filter((t) => t !== undefined && t !== false);
  if (targets.length !== 1) return usage('give exactly one of --pc ID, --all, --group G');
  const timeoutSecs = Number(opts.timeout);
  if (!Number.isSafeInteger(timeoutSecs) || timeoutSecs < 0) return usage(`--timeout: expected whole seconds, got ${opts.timeout}`);
  const waitSecs = opts.wait === undefined ? timeoutSecs + RESULT_GRACE_SECS : Number(opts.wait);
  if (!Number.isFinite(waitSecs) || waitSecs <= 0) return usage(`--wait: expected seconds, got ${opts.wait}`);
  if ((opts.signKey === undefined) !== (opts.kid === undefined)) return usage('--sign-key and --kid go together');
  const key: SigningKey | undefined = opts.signKey
    ? { privateKey: parseSigningKey(await readFile(opts.signKey, 'utf8')), kid: opts.kid as string }
    : undefined;

  const command = draftCommand({
    shell: opts.shell,
    script,
    timeout_secs: timeoutSecs,
    ...(opts.execId !== undefined && { exec_id: opts.execId }),
  });
  const subject = opts.pc !== undefined ? subjects.commandsPc(opts.pc) : opts.group !== undefined ? subjects.commandsGroup(opts.group) : subjects.commandsAll;

  let credentials = credentialsFromEnv();
  if (opts.tokenFile !== undefined) {
    try {
      // A file, not an argument: argv is visible to every local user through `ps`.
      credentials = { ...credentials, token: (await readFile(opts.tokenFile, 'utf8')).trim() };
    } catch (err) {
      return usage(`--token-file: ${(err as Error).message}`);
    }
  }
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsConnectOptions([opts.nats], 'kanade-agent-exec', credentials), timeout: 5_000 });
  } catch (err) {
    process.stderr.write(`kanade-agent exec: cannot connect to ${opts.nats}: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const sub = nc.subscribe(subjects.results(command.request_id));
    await publishCommand(nc, subject, commandBytes(command), key);
    process.stderr.write(`published request_id ${command.request_id} on ${subject}; waiting up to ${waitSecs}s for results\n`);
    const timer = setTimeout(() => sub.unsubscribe(), waitSecs * 1000);
    let received = 0;
    let worst = 0;
    for await (const msg of sub) {
      const decoded = decodeExecResult(msg.data);
      if (!decoded.ok) {
        process.stderr.write(`ignoring a malformed result: ${describeDecodeError(decoded.error)}\n`);
        continue;
      }
      received += 1;
      const result = await withObjects(nc, decoded.value);
      printResult(result, opts.json === true);
      if (result.exit_code !== 0) worst = 1;
      if (opts.pc !== undefined) break;
    }
    clearTimeout(timer);
    if (received === 0) {
      process.stderr.write(`no result within ${waitSecs}s: is an agent with that id connected (kanade-agent dev prints its id)?\n`);
      return 3;
    }
    return worst;
  } finally {
    await nc.close();
  }
}

/** Replaces offloaded stdout/stderr with the object's bytes (§8.5). */
async function withObjects(nc: NatsConnection, result: ExecResult): Promise<ExecResult> {
  if (result.stdout_object === undefined && result.stderr_object === undefined) return result;
  const store = await new Objm(nc).open(OBJ_RESULT_OUTPUT);
  const fetch = async (key: string | undefined, inline: string): Promise<string> => {
    if (key === undefined) return inline;
    const bytes = await store.getBlob(key);
    return bytes ? Buffer.from(bytes).toString('utf8') : `[object ${key} not found]`;
  };
  return { ...result, stdout: await fetch(result.stdout_object, result.stdout), stderr: await fetch(result.stderr_object, result.stderr) };
}

function printResult(result: ExecResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const skipped = result.skipped ? ' (skipped)' : '';
  process.stdout.write(`--- ${result.pc_id}: exit ${result.exit_code}${skipped}\n`);
  if (result.stdout) process.stdout.write(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`);
  if (result.stderr) process.stderr.write(result.stderr.endsWith('\n') ? result.stderr : `${result.stderr}\n`);
}

function usage(message: string): number {
  process.stderr.write(`kanade-agent exec: ${message}\n`);
  return 64;
}
