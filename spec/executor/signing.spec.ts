/** Command signing (§6): enforcing and not, every outcome, keyring reload, v2 envelopes. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, signatureHeaders, type SigningKey } from '../../actors/command-publisher.js';
import { generateCommandKey } from '../../actors/ed25519.js';
import { signatureRefusedResultId } from '../../actors/ids.js';
import { ENVELOPE_V2_KIND, encodeCommand, HEADER_SIG_KID, subjects, type Command } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil, resultsFor, startExecutor, waitForResults, writeKeyring, type TestExecutor } from './harness.js';

const main = generateCommandKey();
const other = generateCommandKey();
const breakGlass = generateCommandKey();
const late = generateCommandKey();
const audited = generateCommandKey();
const MAIN: SigningKey = { privateKey: main.privateKey, kid: 'backend-1' };
const BREAK_GLASS: SigningKey = { privateKey: breakGlass.privateKey, kid: 'glass' };
const RING = [
  { kid: 'backend-1', public_key: main.publicKeyBase64 },
  { kid: 'glass', public_key: breakGlass.publicKeyBase64, max_age_secs: 60 },
  { kid: 'audited', public_key: audited.publicKeyBase64, audit_every_use: true },
];

describe('command signing', () => {
  let broker: Broker;
  let dir: string;
  let enforcing: TestExecutor;
  let lax: TestExecutor;
  let keysFile: string;
  beforeAll(async () => {
    broker = await startBroker();
    dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-sig-'));
    keysFile = path.join(dir, 'command-keys.json');
    await writeKeyring(keysFile, RING);
    enforcing = await startExecutor(broker, { keysFile, requireSigned: true });
    lax = await startExecutor(broker, { keysFile, requireSigned: false });
  });
  afterAll(async () => {
    await enforcing?.stop();
    await lax?.stop();
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const send = (agent: TestExecutor, body: Uint8Array, key?: SigningKey, atMs?: number, kidOverride?: string) => {
    const headers = key ? signatureHeaders(body, key, atMs) : undefined;
    if (headers && kidOverride) headers.set(HEADER_SIG_KID, kidOverride);
    broker.nc.publish(subjects.commandsPc(agent.pcId), body, headers ? { headers } : undefined);
    return broker.nc.flush();
  };
  const wrongKey: SigningKey = { privateKey: other.privateKey, kid: 'backend-1' };

  it('enforcing: verified runs; unsigned, wrong key, unknown kid, stale break-glass and partial headers get exit 123', async () => {
    expect(enforcing.logs.length).toBeGreaterThan(0);
    const ok = draftCommand({ shell: 'sh', script: 'echo signed' });
    await send(enforcing, commandBytes(ok), MAIN);
    expect((await waitForResults(broker, ok.request_id))[0]).toMatchObject({ exit_code: 0, stdout: 'signed\n' });

    const cases: Array<[string, (c: Command) => Promise<void>]> = [
      ['unsigned', (c) => send(enforcing, commandBytes(c))],
      ['invalid', (c) => send(enforcing, commandBytes(c), wrongKey)],
      ['unknown kid', (c) => send(enforcing, commandBytes(c), { privateKey: other.privateKey, kid: 'nobody' })],
      ['stale', (c) => send(enforcing, commandBytes(c), BREAK_GLASS, Date.now() - 120_000)],
      [
        'malformed',
        async (c) => {
          const body = commandBytes(c);
          const h = signatureHeaders(body, MAIN);
          h.delete('Kanade-Sig-At');
          broker.nc.publish(subjects.commandsPc(enforcing.pcId), body, { headers: h });
          await broker.nc.flush();
        },
      ],
    ];
    for (const [outcome, publish] of cases) {
      const cmd = draftCommand({ shell: 'sh', script: 'echo must-not-run' });
      await publish(cmd);
      const [r] = await waitForResults(broker, cmd.request_id);
      expect(r, outcome).toMatchObject({
        result_id: signatureRefusedResultId(cmd.request_id, enforcing.pcId),
        exit_code: 123,
        skipped: false,
        stdout: '',
        stderr: `refused: command signature ${outcome} (signed commands are required on this host)`,
      });
    }
    expect(enforcing.obs.map((e) => e.kind)).toEqual(
      expect.arrayContaining([
        'command_signature_absent',
        'command_signature_invalid',
        'command_signature_unknown_key',
        'command_signature_stale',
      ]),
    );
    expect(enforcing.obs.every((e) => e.source === 'command_signature' || e.source === 'command_admission')).toBe(true);
  });

  it('enforcing: a refused request_id is not consumed; the properly signed command then runs', async () => {
    const cmd = draftCommand({ shell: 'sh', script: 'echo second-chance' });
    await send(enforcing, commandBytes(cmd));
    await waitForResults(broker, cmd.request_id);
    await send(enforcing, commandBytes(cmd), MAIN);
    // Live and replay copies of the unsigned one were both refused (same deterministic result_id).
    const ran = await pollUntil('signed run', 10_000, async () =>
      (await resultsFor(broker, cmd.request_id)).find((r) => r.exit_code === 0),
    );
    expect(ran.stdout).toBe('second-chance\n');
    const refused = (await resultsFor(broker, cmd.request_id)).filter((r) => r.exit_code === 123);
    expect(new Set(refused.map((r) => r.result_id))).toEqual(new Set([signatureRefusedResultId(cmd.request_id, enforcing.pcId)]));
    expect(ran.result_id).not.toBe(refused[0]?.result_id);
  });

  it('enforcing: an unknown kid reloads the ring (rate-limited) and verifies with the new key', async () => {
    await writeKeyring(keysFile, [...RING, { kid: 'late', public_key: late.publicKeyBase64 }]);
    // The previous test's unknown-kid reload may be < 1 s ago; wait out the enforcing rate limit.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const cmd = draftCommand({ shell: 'sh', script: 'echo late-key' });
    await send(enforcing, commandBytes(cmd), { privateKey: late.privateKey, kid: 'late' });
    expect((await waitForResults(broker, cmd.request_id))[0]).toMatchObject({ exit_code: 0, stdout: 'late-key\n' });
  });

  it('not enforcing: unsigned and wrong-key commands run; the obs event follows outcome changes', async () => {
    const unsigned = draftCommand({ shell: 'sh', script: 'echo lax' });
    await send(lax, commandBytes(unsigned));
    expect((await waitForResults(broker, unsigned.request_id))[0]).toMatchObject({ exit_code: 0, stdout: 'lax\n' });
    const bad = draftCommand({ shell: 'sh', script: 'echo lax2' });
    await send(lax, commandBytes(bad), wrongKey);
    expect((await waitForResults(broker, bad.request_id))[0]).toMatchObject({ exit_code: 0, stdout: 'lax2\n' });
    const kinds = lax.obs.filter((e) => e.source === 'command_signature').map((e) => e.kind);
    expect(kinds.slice(0, 2)).toEqual(['command_signature_absent', 'command_signature_invalid']);
    const unsigned2 = draftCommand({ shell: 'sh', script: 'echo lax3' });
    await send(lax, commandBytes(unsigned2));
    await waitForResults(broker, unsigned2.request_id);
    expect(lax.obs.filter((e) => e.source === 'command_signature').map((e) => e.kind)).toEqual([
      'command_signature_absent',
      'command_signature_invalid',
      'command_signature_absent',
    ]);
    expect(lax.obs[0]?.payload).toMatchObject({ request_id: unsigned.request_id, subject: subjects.commandsPc(lax.pcId) });
  });

  it('enforcement requested with a bad keyring file at start refuses everything; with no file too (fail closed, #13)', async () => {
    const badFile = path.join(dir, 'bad-keys.json');
    await writeFile(badFile, '[{"kid":"x"}]');
    const refusing = await startExecutor(broker, { keysFile: badFile, requireSigned: true });
    const cmd = draftCommand({ shell: 'sh', script: 'echo no' });
    await send(refusing, commandBytes(cmd), MAIN);
    expect((await waitForResults(broker, cmd.request_id))[0]).toMatchObject({ exit_code: 123 });
    await refusing.stop();

    const empty = await startExecutor(broker, { keysFile: path.join(dir, 'missing.json'), requireSigned: true });
    const run = draftCommand({ shell: 'sh', script: 'echo empty-ring' });
    await send(empty, commandBytes(run));
    expect((await waitForResults(broker, run.request_id))[0]).toMatchObject({
      exit_code: 123,
      stderr: 'refused: command signature unsigned (signed commands are required on this host)',
    });
    await empty.stop();
  });

  it('v2 envelopes: verified runs; unsigned, misaddressed and expired are refused without a result (§6.3)', async () => {
    const envelope = (agent: TestExecutor, cmd: Command, over: Record<string, unknown> = {}) =>
      new TextEncoder().encode(
        JSON.stringify({
          kind: ENVELOPE_V2_KIND,
          target_pc_id: agent.pcId,
          expires_at: new Date(Date.now() + 600_000).toISOString(),
          command: encodeCommand(cmd),
          ...over,
        }),
      );
    const ok = draftCommand({ shell: 'sh', script: 'echo v2' });
    await send(lax, envelope(lax, ok), MAIN);
    expect((await waitForResults(broker, ok.request_id))[0]).toMatchObject({ exit_code: 0, stdout: 'v2\n' });

    const checks: Array<[string, Uint8Array, SigningKey | undefined, number?]> = [];
    const unsigned = draftCommand({ shell: 'sh', script: 'echo no' });
    checks.push(['command_signature_absent', envelope(lax, unsigned), undefined]);
    const misaddressed = draftCommand({ shell: 'sh', script: 'echo no' });
    checks.push(['command_signature_misaddressed', envelope(lax, misaddressed, { target_pc_id: `${lax.pcId}-other` }), MAIN]);
    const expired = draftCommand({ shell: 'sh', script: 'echo no' });
    checks.push([
      'command_signature_expired',
      envelope(lax, expired, { expires_at: new Date(Date.now() - 1_000).toISOString() }),
      MAIN,
      Date.now() - 10_000,
    ]);
    const reversed = draftCommand({ shell: 'sh', script: 'echo no' });
    checks.push([
      'command_signature_envelope_rejected',
      envelope(lax, reversed, { expires_at: new Date(Date.now() - 60_000).toISOString() }),
      MAIN,
    ]);
    const ahead = draftCommand({ shell: 'sh', script: 'echo no' });
    checks.push(['command_signature_clock_ahead', envelope(lax, ahead), MAIN, Date.now() + 2 * 3_600_000]);
    const extraKey = draftCommand({ shell: 'sh', script: 'echo no' });
    checks.push(['command_signature_envelope_rejected', envelope(lax, extraKey, { extra: 1 }), MAIN]);
    for (const [kind, body, key, at] of checks) {
      const before = lax.obs.filter((e) => e.kind === kind).length;
      await send(lax, body, key, at);
      await pollUntil(kind, 5_000, () => lax.obs.filter((e) => e.kind === kind).length > before);
    }
    for (const cmd of [unsigned, misaddressed, expired, extraKey, reversed, ahead])
      expect(await resultsFor(broker, cmd.request_id)).toHaveLength(0);
  });

  it('audit_every_use raises one obs event per admitted use; a break-glass envelope past max_age is KeyAgeExceeded (stale)', async () => {
    const key: SigningKey = { privateKey: audited.privateKey, kid: 'audited' };
    const first = draftCommand({ shell: 'sh', script: 'echo a1' });
    const second = draftCommand({ shell: 'sh', script: 'echo a2' });
    await send(lax, commandBytes(first), key);
    await waitForResults(broker, first.request_id);
    await send(lax, commandBytes(second), key);
    await waitForResults(broker, second.request_id);
    const uses = await pollUntil('two audited uses', 5_000, () => {
      const found = lax.obs.filter((e) => (e.payload as { kid?: string } | undefined)?.kid === 'audited');
      return found.length >= 2 ? found : undefined;
    });
    expect(uses.map((e) => e.kind)).toEqual(['command_signature_ok', 'command_signature_ok']);
    expect(uses.map((e) => (e.payload as { request_id: string }).request_id)).toEqual([first.request_id, second.request_id]);

    const old = draftCommand({ shell: 'sh', script: 'echo no' });
    const body = new TextEncoder().encode(
      JSON.stringify({
        kind: ENVELOPE_V2_KIND,
        target_pc_id: lax.pcId,
        expires_at: new Date(Date.now() + 600_000).toISOString(),
        command: encodeCommand(old),
      }),
    );
    await send(lax, body, BREAK_GLASS, Date.now() - 120_000);
    await pollUntil('stale envelope', 5_000, () =>
      lax.obs.find((e) => e.kind === 'command_signature_stale' && (e.payload as { request_id: string }).request_id === old.request_id),
    );
    expect(await resultsFor(broker, old.request_id)).toHaveLength(0);
  });
});
