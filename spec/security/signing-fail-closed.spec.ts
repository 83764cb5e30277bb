/**
 * Issue #13 items 2 and 3 against real agent processes and a real broker: signing fails closed
 * (missing ring, a ring others can write, a key removed from the file), old legacy signatures are
 * Stale while enforcing, and `[security] require_envelope` refuses legacy bodies.
 */
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, signatureHeaders, type SigningKey } from '../../actors/command-publisher.js';
import { generateCommandKey } from '../../actors/ed25519.js';
import { decodeHeartbeat, encodeCommand, ENVELOPE_V2_KIND, LEGACY_REFUSED_STDERR, subjects, type Command } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { readStatus, spawnAgent, type AgentDir, type AgentProcess } from '../process/agent-process.js';
import { tempDir, waitForResults } from '../executor/harness.js';

const main = generateCommandKey();
const second = generateCommandKey();
const intruder = generateCommandKey();
const MAIN: SigningKey = { privateKey: main.privateKey, kid: 'backend-1' };
const SECOND: SigningKey = { privateKey: second.privateKey, kid: 'backend-2' };
const INTRUDER: SigningKey = { privateKey: intruder.privateKey, kid: 'intruder' };
const DAY_MS = 86_400_000;
const refusedText = (outcome: string) => `refused: command signature ${outcome} (signed commands are required on this host)`;

async function agentWith(broker: Broker, root: string, name: string, security: string[]): Promise<AgentDir> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const dataDir = path.join(dir, 'data');
  const configPath = path.join(dir, 'agent.toml');
  const socket = path.join(dataDir, 'agent.sock');
  await writeFile(
    configPath,
    [
      '[agent]',
      `id = ${JSON.stringify(`${name}-${process.pid}`)}`,
      `nats_url = ${JSON.stringify(broker.url)}`,
      `data_dir = ${JSON.stringify(dataDir)}`,
      '[log]',
      'level = "info"',
      'keep_days = 0',
      '[control]',
      `socket = ${JSON.stringify(socket)}`,
      '[security]',
      ...security,
      '',
    ].join('\n'),
  );
  return { dir, configPath, socket, dataDir, remove: () => rm(dir, { recursive: true, force: true }) };
}

describe('signing fails closed (issue #13)', () => {
  let broker: Broker;
  let root: { dir: string; cleanup: () => Promise<void> };
  let strictDir: AgentDir;
  let envelopeDir: AgentDir;
  let strict: AgentProcess;
  let envelopeOnly: AgentProcess;
  let keysDir: string;
  let keysFile: string;
  const strictPc = () => `strict-${process.pid}`;
  const envelopePc = () => `envelope-${process.pid}`;

  const writeRing = async (keys: Array<{ kid: string; public_key: string }>) => {
    await writeFile(keysFile, JSON.stringify(keys), { mode: 0o600 });
  };
  const run = async (pcId: string, body: Uint8Array, requestId: string, key?: SigningKey, atMs?: number) => {
    broker.nc.publish(subjects.commandsPc(pcId), body, key ? { headers: signatureHeaders(body, key, atMs) } : undefined);
    await broker.nc.flush();
    // Generous: the first command waits for the agents' start on a loaded machine.
    return (await waitForResults(broker, requestId, 1, 45_000))[0];
  };
  const legacy = (pcId: string, cmd: Command, key?: SigningKey, atMs?: number) => run(pcId, commandBytes(cmd), cmd.request_id, key, atMs);

  beforeAll(async () => {
    broker = await startBroker();
    root = await tempDir('kanade-sig-closed-');
    await chmod(root.dir, 0o755);
    keysDir = path.join(root.dir, 'keys');
    await mkdir(keysDir, { mode: 0o755 });
    keysFile = path.join(keysDir, 'command-keys.json');
    await writeRing([
      { kid: 'backend-1', public_key: main.publicKeyBase64 },
      { kid: 'backend-2', public_key: second.publicKeyBase64 },
    ]);
    strictDir = await agentWith(broker, root.dir, 'strict', [
      `command_keys_file = ${JSON.stringify(keysFile)}`,
      'require_signed_commands = true',
    ]);
    envelopeDir = await agentWith(broker, root.dir, 'envelope', [
      `command_keys_file = ${JSON.stringify(keysFile)}`,
      'require_envelope = true',
    ]);
    strict = spawnAgent(strictDir);
    envelopeOnly = spawnAgent(envelopeDir);
    // Ready once a signed probe round-trips on each.
    const probe = draftCommand({ shell: 'sh', script: 'true' });
    expect(await legacy(strictPc(), probe, MAIN)).toMatchObject({ exit_code: 0 });
  });
  afterAll(async () => {
    for (const agent of [strict, envelopeOnly]) agent?.kill();
    await Promise.all([strict?.exited, envelopeOnly?.exited]);
    await broker?.stop();
    await root?.cleanup();
  });

  it('a key removed from the file is refused at once (stat before each verification, not the next heartbeat)', async () => {
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo two' }), SECOND)).toMatchObject({ exit_code: 0 });
    await writeRing([{ kid: 'backend-1', public_key: main.publicKeyBase64 }]);
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo two' }), SECOND)).toMatchObject({
      exit_code: 123,
      stderr: refusedText('unknown kid'),
    });
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo one' }), MAIN)).toMatchObject({
      exit_code: 0,
      stdout: 'one\n',
    });
  });

  it('a legacy signature older than the 8-day replay horizon is Stale while enforcing; 7 days old still runs', async () => {
    const old = await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo old' }), MAIN, Date.now() - 9 * DAY_MS);
    expect(old).toMatchObject({ exit_code: 123, stderr: refusedText('stale') });
    const recent = await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo recent' }), MAIN, Date.now() - 7 * DAY_MS);
    expect(recent).toMatchObject({ exit_code: 0, stdout: 'recent\n' });
  });

  it('a keyring others can write, or owned by another user, is refused like a bad file (the intruder key never works)', async () => {
    await writeRing([
      { kid: 'backend-1', public_key: main.publicKeyBase64 },
      { kid: 'intruder', public_key: intruder.publicKeyBase64 },
    ]);
    await chmod(keysFile, 0o666);
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'id' }), INTRUDER)).toMatchObject({ exit_code: 123 });
    await chmod(keysFile, 0o600);
    await chown(keysFile, 65534, 65534);
    // Rewritten by "nobody": new mtime/size, so the agent re-reads it and must refuse it.
    await writeFile(
      keysFile,
      JSON.stringify([
        { kid: 'intruder', public_key: intruder.publicKeyBase64 },
        { kid: 'backend-1', public_key: main.publicKeyBase64 },
      ]),
    );
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'id' }), INTRUDER)).toMatchObject({ exit_code: 123 });
    await chown(keysFile, 0, 0);
    // A group/other-writable directory makes the file untrusted too.
    await chmod(keysDir, 0o777);
    await writeRing([{ kid: 'intruder', public_key: intruder.publicKeyBase64 }]);
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'id' }), INTRUDER)).toMatchObject({ exit_code: 123 });
    await chmod(keysDir, 0o755);
    // Back to a trusted file: the main key works again.
    await writeRing([{ kid: 'backend-1', public_key: main.publicKeyBase64 }]);
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo back' }), MAIN)).toMatchObject({ exit_code: 0 });
  });

  it('the keyring deleted while enforcing: unsigned and signed are refused, status degraded with the reason, heartbeat enforcing', async () => {
    await rm(keysFile);
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo unsigned' }))).toMatchObject({
      exit_code: 123,
      stderr: refusedText('unsigned'),
    });
    expect(await legacy(strictPc(), draftCommand({ shell: 'sh', script: 'echo signed' }), MAIN)).toMatchObject({
      exit_code: 123,
      stderr: refusedText('unprovisioned'),
    });
    const report = await readStatus(strictDir.socket);
    expect(report?.health).toBe('degraded');
    expect(report?.signing).toMatchObject({ required: true, enforcing: true, keys: 0 });
    expect(report?.signing?.problem).toMatch(/does not exist/);
    const reply = await broker.nc.request(subjects.ping(strictPc()), '', { timeout: 5_000 });
    const beat = decodeHeartbeat(reply.data);
    expect(beat.ok && beat.value.enforcing).toBe(true);
    await writeRing([{ kid: 'backend-1', public_key: main.publicKeyBase64 }]);
  });

  it('require_envelope: a legacy body is refused with 123 and the exact stderr, signed or not; a signed v2 envelope runs', async () => {
    const pc = envelopePc();
    expect(await legacy(pc, draftCommand({ shell: 'sh', script: 'echo legacy' }))).toMatchObject({
      exit_code: 123,
      stderr: LEGACY_REFUSED_STDERR,
      skipped: false,
    });
    expect(await legacy(pc, draftCommand({ shell: 'sh', script: 'echo legacy' }), MAIN)).toMatchObject({
      exit_code: 123,
      stderr: LEGACY_REFUSED_STDERR,
    });
    const cmd = draftCommand({ shell: 'sh', script: 'echo v2' });
    const body = new TextEncoder().encode(
      JSON.stringify({
        kind: ENVELOPE_V2_KIND,
        target_pc_id: pc,
        expires_at: new Date(Date.now() + 600_000).toISOString(),
        command: encodeCommand(cmd),
      }),
    );
    expect(await run(pc, body, cmd.request_id, MAIN)).toMatchObject({ exit_code: 0, stdout: 'v2\n' });
  });
});
