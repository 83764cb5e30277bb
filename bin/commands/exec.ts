/**
 * `kanade-agent exec`: the operator's tool for trying an agent, like `kanade run`. Publishes one
 * contract Command and prints each ExecResult as it arrives, following object-store pointers.
 * It returns as soon as every expected PC answered (`--pc`: one; `--all`/`--group`: `--expect N`,
 * else it waits `--wait`) and exits with the script's exit code ({@link execExitCode}).
 */
import { readFile } from 'node:fs/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { type Command as Cli, Option } from 'commander';
import {
  decodeExecResult,
  describeDecodeError,
  OBJ_RESULT_OUTPUT,
  SHELLS,
  subjects,
  type ExecResult,
  type Shell,
} from '../../contract/index.js';
import { commandBytes, draftCommand, publishCommand, type SigningKey } from '../../actors/command-publisher.js';
import { parseSigningKey } from '../../actors/ed25519.js';
import { describeConnectError } from '../../actors/connect-error.js';
import { authOrder, credentialsFromEnv, natsConnectOptions, type Credentials } from '../../actors/nats-options.js';
import { readDevPointer } from './dev-pointer.js';

/** Where `exec` connects when `--nats` is not given: the `dev` broker's usual address. */
export const DEFAULT_EXEC_NATS_URL = 'nats://127.0.0.1:4222';
/** How long to wait for results beyond the script's own timeout. */
const RESULT_GRACE_SECS = 30;

/** `exec`'s own exit codes (sysexits), for what is not a script's exit code. */
export const EXEC_EXIT = {
  usage: 64,
  /** The broker could not be reached. */
  unavailable: 69,
  /** Fewer results than expected arrived within `--wait`. */
  noResult: 75,
  /** A run that ended with -1 after `timeout after Ns`. */
  timedOut: 142,
  /** A run that ended with -1 because it was killed (remote kill, agent shutdown). */
  killed: 137,
  /** Any other -1 (failed to start, script_object fetch) or a code outside 0–255. */
  otherFailure: 255,
} as const;

/**
 * The process exit code for one result: the script's own 0–255 (the agent's skip codes 121–127
 * included, unchanged), 142 for a timeout, 137 for a kill, 255 for any other failure.
 */
export function execExitCode(result: Pick<ExecResult, 'exit_code' | 'stderr'>): number {
  const code = result.exit_code;
  if (Number.isInteger(code) && code >= 0 && code <= 255) return code;
  if (code === -1 && /(^|\n)timeout after \d+s/.test(result.stderr)) return EXEC_EXIT.timedOut;
  if (code === -1 && /(^|\n)killed/.test(result.stderr)) return EXEC_EXIT.killed;
  return EXEC_EXIT.otherFailure;
}

/** Where `exec`/`kill` connect, and with what. */
export interface Broker {
  readonly url: string;
  readonly credentials: Credentials;
}

/**
 * `--nats` when given, else a running `kanade-agent dev`'s broker, else {@link DEFAULT_EXEC_NATS_URL}.
 * Credentials: `--token-file` when given; for the dev broker found by its pointer, the dev token file
 * it names (only that token, as `dev` gives its agent, so `exec` after `npm run dev` needs no flags);
 * else the KANADE_NATS_* environment. A token is always read from a file, never taken from argv
 * (visible to every local user through `ps`). Throws an Error naming the flag or file on a bad file.
 */
export async function resolveBroker(opts: { readonly nats?: string; readonly tokenFile?: string }): Promise<Broker> {
  const dev = opts.nats === undefined ? readDevPointer() : null;
  const url = opts.nats ?? dev?.nats_url ?? DEFAULT_EXEC_NATS_URL;
  const env = credentialsFromEnv();
  if (opts.tokenFile !== undefined) return { url, credentials: { ...env, token: await readToken(opts.tokenFile, '--token-file') } };
  if (dev !== null) {
    const devEnv: Record<string, string> = env.caFile === undefined ? {} : { caFile: env.caFile };
    return { url, credentials: { ...devEnv, token: await readToken(dev.token_file, "the running dev's token file") } };
  }
  return { url, credentials: env };
}

async function readToken(file: string, what: string): Promise<string> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token === '') throw new Error('the file is empty');
    return token;
  } catch (err) {
    throw new Error(`${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

interface ExecOptions {
  nats?: string;
  expect?: string;
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
    .option('--nats <url>', `NATS server URL (default: the running \`kanade-agent dev\`'s broker, else ${DEFAULT_EXEC_NATS_URL})`)
    .option('--pc <id>', 'send to one PC (commands.pc.<id>); exits after its result')
    .option('--all', 'send to every PC (commands.all)')
    .option('--group <g>', 'send to a group (commands.group.<g>)')
    .addOption(new Option('--shell <shell>', 'shell').choices([...SHELLS]).default(process.platform === 'win32' ? 'powershell' : 'sh'))
    .option('--timeout <secs>', 'script timeout in seconds', '60')
    .option('--wait <secs>', `how long to wait for results (default: timeout + ${RESULT_GRACE_SECS})`)
    .option('--exec-id <id>', 'set exec_id (enables EventStarted and kill.<exec_id>)')
    .option('--sign-key <file>', 'Ed25519 signing key: base64 32-byte seed or PEM PKCS#8')
    .option('--kid <kid>', 'key id for --sign-key')
    .option('--expect <n>', 'with --all/--group: return as soon as N PCs answered')
    .option('--json', 'print each result as one JSON line')
    .option('--token-file <file>', 'read the NATS token from this file (kanade-agent dev writes one, mode 0600); else KANADE_NATS_TOKEN')
    .addHelpText(
      'after',
      [
        '',
        "Exit code: the script's own exit code (0-255; the agent's skip codes 121-127 unchanged);",
        `${EXEC_EXIT.timedOut} timed out, ${EXEC_EXIT.killed} killed, ${EXEC_EXIT.otherFailure} any other failure (exit_code -1);`,
        'with several PCs the highest of those; ',
        `${EXEC_EXIT.noResult} fewer results than expected within --wait, ${EXEC_EXIT.unavailable} broker unreachable or the command not stored in EXEC (no PubAck within 30 s), ${EXEC_EXIT.usage} usage.`,
      ].join('\n'),
    )
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
  const expected = opts.pc !== undefined ? 1 : opts.expect === undefined ? undefined : Number(opts.expect);
  if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 1))
    return usage(`--expect: expected a whole number ≥ 1, got ${opts.expect}`);
  const key: SigningKey | undefined = opts.signKey
    ? { privateKey: parseSigningKey(await readFile(opts.signKey, 'utf8')), kid: opts.kid as string }
    : undefined;

  const command = draftCommand({
    shell: opts.shell,
    script,
    timeout_secs: timeoutSecs,
    ...(opts.execId !== undefined && { exec_id: opts.execId }),
  });
  const subject =
    opts.pc !== undefined
      ? subjects.commandsPc(opts.pc)
      : opts.group !== undefined
        ? subjects.commandsGroup(opts.group)
        : subjects.commandsAll;

  let broker: Broker;
  try {
    broker = await resolveBroker(opts);
  } catch (err) {
    return usage((err as Error).message);
  }
  const url = broker.url;
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsConnectOptions([broker.url], 'kanade-agent-exec', broker.credentials), timeout: 5_000 });
  } catch (err) {
    process.stderr.write(
      `kanade-agent exec: cannot connect to ${url}: ${describeConnectError(err, authOrder(broker.credentials)[0] ?? 'none')}\n`,
    );
    return EXEC_EXIT.unavailable;
  }
  try {
    const sub = nc.subscribe(subjects.results(command.request_id));
    try {
      await publishCommand(nc, subject, commandBytes(command), key);
    } catch (err) {
      // No PubAck from EXEC: agents offline now would never get it from their replay consumer (§7).
      process.stderr.write(`kanade-agent exec: ${(err as Error).message} (request_id ${command.request_id}, broker ${url})\n`);
      return EXEC_EXIT.unavailable;
    }
    const waitFor = expected === undefined ? 'results' : expected === 1 ? 'the result' : `${expected} results`;
    const execNote = opts.execId === undefined ? '' : ` (exec_id ${opts.execId}: \`kanade-agent kill ${opts.execId}\` stops it)`;
    process.stderr.write(
      `published request_id ${command.request_id} on ${subject}${execNote}; waiting up to ${waitSecs}s for ${waitFor}\n`,
    );
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
      worst = Math.max(worst, execExitCode(result));
      if (expected !== undefined && received >= expected) break;
    }
    clearTimeout(timer);
    if (received === 0 || (expected !== undefined && received < expected)) {
      // Only what is known: what was published where, and how many answered.
      process.stderr.write(
        `kanade-agent exec: ${received} of ${expected ?? 'the'} expected result${expected === 1 ? '' : 's'} within ${waitSecs}s ` +
          `(request_id ${command.request_id} on ${subject}, broker ${url}); \`kanade-agent status\` on the PC shows whether its agent is connected\n`,
      );
      return EXEC_EXIT.noResult;
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
  return EXEC_EXIT.usage;
}
