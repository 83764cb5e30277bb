import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeCommandBody,
  encodeExecResult,
  HEADER_SIG,
  HEADER_SIG_ALG,
  HEADER_SIG_AT,
  HEADER_SIG_KID,
  signedBytes,
} from '../../contract/index.js';
import { generateCommandKey, publicKeyFromRaw, verifyBytes } from '../../actors/ed25519.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { runCli, spawnCli, finished } from './run-cli.js';

let broker: Broker;
let dir: string;

beforeAll(async () => {
  broker = await startBroker();
  dir = await mkdtemp(join(tmpdir(), 'kanade-exec-'));
});

afterAll(async () => {
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('kanade-agent exec', () => {
  it('--help and --version work from the compiled entry point', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const verb of ['run', 'dev', 'exec', 'status']) expect(help.stdout).toContain(verb);
    const version = await runCli(['--version']);
    expect(version.stdout).toMatch(/^kanade-agent \d+\.\d+\.\d+\S*\n$/);
  });

  it('publishes a contract-valid, signed Command and times out clearly when no agent answers', async () => {
    const key = generateCommandKey();
    const keyFile = join(dir, 'signing.key');
    await writeFile(keyFile, key.seedBase64);
    const sub = broker.nc.subscribe('commands.pc.PC-EXEC', { max: 1 });
    await broker.nc.flush();
    const run = await runCli([
      'exec',
      '--nats',
      broker.url,
      '--pc',
      'PC-EXEC',
      '--wait',
      '1',
      '--timeout',
      '5',
      '--sign-key',
      keyFile,
      '--kid',
      'ops-1',
      '--',
      'echo',
      'hi',
    ]);
    expect(run.code).toBe(75);
    expect(run.stderr).toMatch(
      /kanade-agent exec: 0 of 1 expected result within 1s \(request_id \S+ on commands\.pc\.PC-EXEC, broker nats:\/\/\S+\); `kanade-agent status` on the PC shows whether its agent is connected/,
    );

    const msg = await sub[Symbol.asyncIterator]().next();
    expect(msg.done).toBe(false);
    const decoded = decodeCommandBody(msg.value.data);
    if (!decoded.ok) throw new Error(`published command does not decode: ${decoded.error.path} ${decoded.error.reason}`);
    expect(decoded.value.protocol).toBe('legacy');
    expect(decoded.value.command).toMatchObject({ id: 'adhoc-run', version: '0.0.0', shell: 'sh', script: 'echo hi', timeout_secs: 5 });
    const raw = JSON.parse(new TextDecoder().decode(msg.value.data));
    expect(raw.exec_id).toBeNull();
    expect(raw.jitter_secs).toBeNull();

    const headers = msg.value.headers;
    expect(headers?.get(HEADER_SIG_KID)).toBe('ops-1');
    expect(headers?.get(HEADER_SIG_ALG)).toBe('ed25519');
    const at = BigInt(headers?.get(HEADER_SIG_AT) ?? '0');
    const signature = Buffer.from(headers?.get(HEADER_SIG) ?? '', 'base64');
    const publicKey = publicKeyFromRaw(Buffer.from(key.publicKeyBase64, 'base64'));
    expect(verifyBytes(publicKey, signedBytes(at, msg.value.data), signature)).toBe(true);

    // The command is also captured by stream EXEC, as a backend-published command is.
    const info = await broker.jsm.streams.info('EXEC');
    expect(info.state.messages).toBeGreaterThanOrEqual(1);
  });

  it('prints a result that arrives on results.<request_id>', async () => {
    const sub = broker.nc.subscribe('commands.all', { max: 1 });
    await broker.nc.flush();
    const child = spawnCli(['exec', '--nats', broker.url, '--all', '--wait', '5', '--', 'true']);
    const msg = await sub[Symbol.asyncIterator]().next();
    const decoded = decodeCommandBody(msg.value.data);
    if (!decoded.ok) throw new Error('command must decode');
    const cmd = decoded.value.command;
    const now = new Date().toISOString();
    await broker.js.publish(
      `results.${cmd.request_id}`,
      encodeExecResult({
        result_id: '5d6c1f7e-8a9b-4c0d-9e1f-2a3b4c5d6e7f',
        request_id: cmd.request_id,
        pc_id: 'PC-A',
        manifest_id: cmd.id,
        exit_code: 0,
        skipped: false,
        stdout: 'hello from PC-A\n',
        stderr: '',
        started_at: now,
        finished_at: now,
      }),
    );
    const run = await finished(child);
    expect(run.stdout).toContain('--- PC-A: exit 0');
    expect(run.stdout).toContain('hello from PC-A');
    expect(run.code).toBe(0);
  });

  it('refuses ambiguous targets with a usage error', async () => {
    const run = await runCli(['exec', '--nats', broker.url, '--pc', 'a', '--all', '--', 'true']);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('exactly one of');
  });
});
