/** Pure and file-level pieces: run messages, keyring, signature classification, ledger, slot budget. */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { JOURNAL_FILE, openAdmissionLedger } from '../../actors/exec/admission-ledger.js';
import { createKeyring, parseRegQuery } from '../../actors/exec/keyring.js';
import { createSlotBudget } from '../../actors/exec/slot-budget.js';
import { checkGates } from '../../actors/exec/gates.js';
import { draftCommand } from '../../actors/command-publisher.js';
import { verifySignature } from '../../actors/exec/verify-signature.js';
import { signatureHeaders } from '../../actors/command-publisher.js';
import { generateCommandKey } from '../../actors/ed25519.js';
import {
  ADMISSION_TOMBSTONE_MS,
  deadlineSkipMessage,
  type Command,
  revokedSkipMessage,
  stalenessSkipMessage,
  versionPinSkipMessage,
} from '../../contract/index.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
const temp = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-unit-'));
  dirs.push(dir);
  return dir;
};
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('run messages (§8.1)', () => {
  it('match the contract texts with humantime durations', () => {
    expect(stalenessSkipMessage(90_000, 300_000)).toBe(
      'skipped: staleness policy (mode=strict) exceeded — agent has been disconnected for 1m 30s, max allowed 5m',
    );
    expect(stalenessSkipMessage(Number.POSITIVE_INFINITY, 60_000)).toBe(
      'skipped: staleness policy (mode=strict) exceeded — agent has been disconnected for ∞, max allowed 1m',
    );
    expect(versionPinSkipMessage('m', '2', '1')).toBe('skipped: version-pin mismatch — script_current[m] = 2, command brought 1');
    expect(revokedSkipMessage('m')).toBe('skipped: command was revoked (script_status[m] = revoked)');
    expect(deadlineSkipMessage(3_600_000, '2026-05-16T00:00:00Z', '2026-05-16T01:00:00.000Z')).toBe(
      'skipped: starting deadline expired 1h ago (deadline 2026-05-16T00:00:00Z, received 2026-05-16T01:00:00.000Z)',
    );
  });
});

describe('keyring (§6.2)', () => {
  it('fingerprints are kid:<first 16 hex of sha256(raw key)>; a bad reload keeps the ring; unknown-kid reloads are rate-limited', async () => {
    const dir = await temp();
    const file = path.join(dir, 'keys.json');
    const key = generateCommandKey();
    await writeFile(file, JSON.stringify([{ kid: 'k1', public_key: key.publicKeyBase64 }]));
    let now = 0;
    const ring = await createKeyring({ file, requireSigned: false, log, now: () => now });
    const fp = createHash('sha256').update(Buffer.from(key.publicKeyBase64, 'base64')).digest('hex').slice(0, 16);
    expect(ring.fingerprints()).toEqual([`k1:${fp}`]);
    expect(ring.enforcing()).toBe(false);
    await writeFile(file, '[{"kid":"k1","public_key":"AAAA"},{"kid":"k1"}]');
    await ring.reload();
    expect(ring.fingerprints()).toEqual([`k1:${fp}`]);
    expect(await ring.reloadForUnknownKid('x')).toBe(true);
    now = 29_999;
    expect(await ring.reloadForUnknownKid('x')).toBe(false);
    now = 30_000;
    expect(await ring.reloadForUnknownKid('x')).toBe(true);
  });

  it('a duplicate kid rejects the ring; at start with enforcement requested that refuses everything', async () => {
    const dir = await temp();
    const file = path.join(dir, 'keys.json');
    const key = generateCommandKey();
    await writeFile(
      file,
      JSON.stringify([
        { kid: 'a', public_key: key.publicKeyBase64 },
        { kid: 'a', public_key: key.publicKeyBase64 },
      ]),
    );
    const ring = await createKeyring({ file, requireSigned: true, log });
    expect(ring.size()).toBe(0);
    expect(ring.refusingAll()).toBe(true);
    expect(ring.enforcing()).toBe(true);
    // Fail closed (#13): a missing file with enforcement requested refuses everything too.
    const missing = await createKeyring({ file: path.join(dir, 'none.json'), requireSigned: true, log });
    expect(missing.enforcing()).toBe(true);
    expect(missing.refusingAll()).toBe(true);
    expect(missing.problem()).toMatch(/does not exist/);
  });

  it('classifies signatures: verified, unsigned, malformed alg, invalid, stale break-glass', async () => {
    const dir = await temp();
    const file = path.join(dir, 'keys.json');
    const key = generateCommandKey();
    const glass = generateCommandKey();
    await writeFile(
      file,
      JSON.stringify([
        { kid: 'k', public_key: key.publicKeyBase64 },
        { kid: 'g', public_key: glass.publicKeyBase64, max_age_secs: 10 },
      ]),
    );
    const ring = await createKeyring({ file, requireSigned: true, log });
    const body = new TextEncoder().encode('{"x":1}');
    const plain = (h: ReturnType<typeof signatureHeaders>) => Object.fromEntries([...h.keys()].map((k) => [k, h.get(k)]));
    const now = Date.now();
    expect(
      (await verifySignature(plain(signatureHeaders(body, { privateKey: key.privateKey, kid: 'k' }, now)), body, ring, now)).outcome,
    ).toBe('verified');
    expect((await verifySignature({}, body, ring, now)).outcome).toBe('unsigned');
    const badAlg = plain(signatureHeaders(body, { privateKey: key.privateKey, kid: 'k' }, now));
    badAlg['Kanade-Sig-Alg'] = 'rsa';
    expect((await verifySignature(badAlg, body, ring, now)).outcome).toBe('malformed');
    const tampered = new TextEncoder().encode('{"x":2}');
    expect(
      (await verifySignature(plain(signatureHeaders(body, { privateKey: key.privateKey, kid: 'k' }, now)), tampered, ring, now)).outcome,
    ).toBe('invalid');
    const old = plain(signatureHeaders(body, { privateKey: glass.privateKey, kid: 'g' }, now - 11_000));
    expect((await verifySignature(old, body, ring, now)).outcome).toBe('stale');
    // Ordinary keys have no freshness bound: a week-old signature verifies.
    expect(
      (
        await verifySignature(
          plain(signatureHeaders(body, { privateKey: key.privateKey, kid: 'k' }, now - 7 * 86_400_000)),
          body,
          ring,
          now,
        )
      ).outcome,
    ).toBe('verified');
  });
});

describe('admission ledger (§7)', () => {
  it('admits once, reports duplicates and conflicts, prunes only expired finished tombstones, leaves no tmp files', async () => {
    const dataDir = await temp();
    const ledger = await openAdmissionLedger(dataDir);
    const body = new TextEncoder().encode('{"a":1}');
    const input = {
      requestId: 'r/1',
      body,
      headers: {},
      subject: 'commands.all',
      receivedAt: '2026-01-01T00:00:00.000Z',
      resultId: 'id-1',
      nowMs: 1_000,
    };
    const first = await ledger.admit(input);
    expect(first.kind).toBe('admitted');
    expect((await ledger.admit({ ...input, resultId: 'id-2' })).kind).toBe('duplicate');
    expect((await ledger.admit({ ...input, body: new TextEncoder().encode('{"a":2}') })).kind).toBe('conflict');
    await ledger.flush();
    expect((await readdir(path.join(dataDir, 'admission'))).filter((n) => n !== JOURNAL_FILE)).toEqual(['r_1.json']);
    const pending = await ledger.admit({ ...input, requestId: 'r2' });
    if (first.kind !== 'admitted' || pending.kind !== 'admitted') throw new Error('not admitted');
    await ledger.update(first.record, { state: 'finished', queued: true }, 2_000);
    expect(await ledger.prune(2_000 + ADMISSION_TOMBSTONE_MS)).toBe(0);
    expect(await ledger.prune(2_001 + ADMISSION_TOMBSTONE_MS)).toBe(1);
    // Pending records are never pruned.
    expect(await ledger.prune(Number.MAX_SAFE_INTEGER)).toBe(0);
    const reopened = await openAdmissionLedger(dataDir);
    expect(reopened.stats().records).toBe(1);
    expect((await reopened.unfinished()).map((r) => r.request_id)).toEqual(['r2']);
  });
});

describe('slot budget (§8.2)', () => {
  it('is FIFO, resizable live, and an aborted waiter leaves the queue', async () => {
    const budget = createSlotBudget(1);
    const order: string[] = [];
    const r1 = await budget.acquire();
    const abort = new AbortController();
    const waiting = budget.acquire(abort.signal).then(
      () => order.push('aborted-one'),
      () => order.push('aborted'),
    );
    const w2 = budget.acquire().then((release) => {
      order.push('second');
      return release;
    });
    const w3 = budget.acquire().then((release) => {
      order.push('third');
      return release;
    });
    abort.abort(new Error('kill'));
    await waiting;
    expect(budget.stats()).toEqual({ limit: 1, inUse: 1, waiting: 2 });
    budget.resize(2);
    await w2;
    expect(order).toEqual(['aborted', 'second']);
    r1();
    (await w3)();
    expect(order).toEqual(['aborted', 'second', 'third']);
  });
});

describe('gates (§8.1) with a fake policy reader', () => {
  const broker = (connected: boolean, since: number, everConnected = true) => ({
    state: () =>
      connected ? { connected: true as const, nc: {} as never, server: 's', since } : { connected: false as const, since, everConnected },
    watch: () => () => undefined,
  });
  const cmd = (over: Partial<Command> = {}) =>
    ({ ...draftCommand({ shell: 'sh', script: 'x', id: 'm', version: '1' }), ...over }) as Command;
  const failing = {
    read: async () => {
      throw new Error('kv down');
    },
  };
  const values = (current?: string, status?: string) => ({
    read: async (bucket: string) => (bucket === 'script_current' ? current : status),
  });

  it('runs the gates in order: staleness, version pin, revoke, deadline', async () => {
    const now = 1_000_000;
    const strict = { mode: 'strict' as const, max_cache_age: '1m', max_cache_age_ms: 60_000 };
    const past = new Date(now - 5_000).toISOString();
    expect(
      (await checkGates(cmd({ staleness: strict, deadline_at: past }), 'r', broker(false, now - 61_000), values('2', 'REVOKED'), now))
        ?.exitCode,
    ).toBe(127);
    expect((await checkGates(cmd({ staleness: strict }), 'r', broker(false, 0, false), values(), now))?.stderr).toContain(
      'disconnected for ∞',
    );
    expect((await checkGates(cmd({ deadline_at: past }), 'r', broker(true, 0), values('2', 'REVOKED'), now))?.exitCode).toBe(124);
    expect((await checkGates(cmd({ deadline_at: past }), 'r', broker(true, 0), values('1', 'REVOKED'), now))?.exitCode).toBe(126);
    expect((await checkGates(cmd({ deadline_at: past }), 'r', broker(true, 0), values('1', 'ACTIVE'), now))?.exitCode).toBe(125);
    expect(await checkGates(cmd({ deadline_at: new Date(now).toISOString() }), 'r', broker(true, 0), values(), now)).toBeUndefined();
  });

  it('a failed live read skips strict commands (127) and lets cached ones proceed; unchecked reads nothing', async () => {
    const strict = { mode: 'strict' as const, max_cache_age: '5m', max_cache_age_ms: 300_000 };
    expect((await checkGates(cmd({ staleness: strict }), 'r', broker(true, 0), failing, 10))?.exitCode).toBe(127);
    expect(await checkGates(cmd(), 'r', broker(true, 0), failing, 10)).toBeUndefined();
    expect(await checkGates(cmd({ staleness: { mode: 'unchecked' } }), 'r', broker(true, 0), values('9', 'REVOKED'), 10)).toBeUndefined();
  });
});

describe('keyring from the Windows registry (§6.2; verified only with a fake reader)', () => {
  it('parses `reg query` output and reads the ring from it when the file is absent on win32', async () => {
    const key = generateCommandKey();
    const json = JSON.stringify([{ kid: 'reg-1', public_key: key.publicKeyBase64 }]);
    const output = `\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\kanade\\agent\r\n    CommandKeys    REG_SZ    ${json}\r\n\r\n`;
    expect(parseRegQuery(output, 'CommandKeys')).toBe(json);
    expect(parseRegQuery(output, 'Other')).toBeUndefined();
    // `reg add /v RequireSignedCommands /t REG_DWORD /d 1` (found under Wine, #18: it read as absent).
    const flags = '    RequireSignedCommands    REG_DWORD    0x1\r\n    Big    REG_DWORD    0xffffffff\r\n    Bad    REG_DWORD    1\r\n';
    expect(parseRegQuery(flags, 'RequireSignedCommands')).toBe('1');
    expect(parseRegQuery(flags, 'Big')).toBe('4294967295');
    expect(parseRegQuery(flags, 'Bad')).toBeUndefined();
    const dir = await temp();
    const ring = await createKeyring({
      file: path.join(dir, 'absent.json'),
      requireSigned: true,
      log,
      platform: 'win32',
      readRegistry: async () => json,
    });
    expect(ring.fingerprints()).toHaveLength(1);
    expect(ring.fingerprints()[0]).toMatch(/^reg-1:[0-9a-f]{16}$/);
    expect(ring.enforcing()).toBe(true);
    const linux = await createKeyring({
      file: path.join(dir, 'absent.json'),
      requireSigned: false,
      log,
      platform: 'linux',
      readRegistry: async () => json,
    });
    expect(linux.size()).toBe(0);
  });
});

describe('admission ledger caps (§7)', () => {
  it('over the record or byte cap, the oldest finished records go first; unfinished ones stay', async () => {
    const dataDir = await temp();
    const ledger = await openAdmissionLedger(dataDir, { maxRecords: 3 });
    const admit = async (id: string, at: number) => {
      const a = await ledger.admit({
        requestId: id,
        body: new TextEncoder().encode(id),
        headers: {},
        subject: 'commands.all',
        receivedAt: 'x',
        resultId: `r-${id}`,
        nowMs: at,
      });
      if (a.kind !== 'admitted') throw new Error('not admitted');
      return a.record;
    };
    for (let i = 0; i < 5; i += 1) await ledger.update(await admit(`f${i}`, i), { state: 'finished', queued: true }, 100 + i);
    await admit('pending', 200);
    expect(ledger.stats().records).toBe(6);
    expect(await ledger.prune(1_000)).toBe(3);
    await ledger.flush();
    const records = async () => (await readdir(path.join(dataDir, 'admission'))).filter((n) => n !== JOURNAL_FILE).sort();
    expect(await records()).toEqual(['f3.json', 'f4.json', 'pending.json']);

    const bytes = await openAdmissionLedger(dataDir, { maxBytes: 1 });
    expect(await bytes.prune(1_000)).toBe(2);
    expect(await records()).toEqual(['pending.json']);
  });
});
