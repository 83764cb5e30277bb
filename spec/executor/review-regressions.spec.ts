/** Regression tests for review findings on the executor (exit codes, gates, the admission ledger). */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { draftCommand } from '../../actors/command-publisher.js';
import { openAdmissionLedger } from '../../actors/exec/admission-ledger.js';
import { checkGates, type ScriptPolicyReader } from '../../actors/exec/gates.js';
import { exitCodeOf } from '../../actors/exec/run-process.js';
import { createBrokerHub } from '../../actors/broker-hub.js';
import { uuidV4 } from '../../actors/ids.js';
import { EXIT_SKIP_REVOKED, EXIT_SKIP_STALENESS, EXIT_SKIP_VERSION_PIN, formatRfc3339, KV_SCRIPT_CURRENT } from '../../contract/index.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('exit codes (§5.3 i32)', () => {
  it('wraps Windows DWORD exit codes into i32 and maps signals to 128 + n', () => {
    expect(exitCodeOf(3221225477, null)).toBe(-1073741819);
    expect(exitCodeOf(4294967295, null)).toBe(-1);
    expect(exitCodeOf(7, null)).toBe(7);
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
  });
});

describe('policy gates with one failed read', () => {
  const connected = () => {
    const hub = createBrokerHub();
    hub.connected({} as never, 'nats://fake', Date.now());
    return hub;
  };
  const reader = (pin: () => Promise<string | undefined>, status: () => Promise<string | undefined>): ScriptPolicyReader => ({
    read: (bucket) => (bucket === KV_SCRIPT_CURRENT ? pin() : status()),
  });
  const failed = () => Promise.reject(new Error('kv get timed out'));

  it('cached: a failed pin read does not hide REVOKED', async () => {
    const cmd = draftCommand({ shell: 'sh', script: 'x', id: 'm1', version: '1.0.0' });
    const skip = await checkGates(
      cmd,
      formatRfc3339(Date.now()),
      connected(),
      reader(failed, async () => 'REVOKED'),
    );
    expect(skip?.exitCode).toBe(EXIT_SKIP_REVOKED);
  });

  it('cached: a failed status read does not hide a version pin', async () => {
    const cmd = draftCommand({ shell: 'sh', script: 'x', id: 'm1', version: '1.0.0' });
    const skip = await checkGates(
      cmd,
      formatRfc3339(Date.now()),
      connected(),
      reader(async () => '2.0.0', failed),
    );
    expect(skip?.exitCode).toBe(EXIT_SKIP_VERSION_PIN);
  });

  it('strict: any failed live read is a staleness skip', async () => {
    const cmd = draftCommand({ shell: 'sh', script: 'x', staleness: { mode: 'strict', max_cache_age: '5m', max_cache_age_ms: 300_000 } });
    const skip = await checkGates(
      cmd,
      formatRfc3339(Date.now()),
      connected(),
      reader(async () => undefined, failed),
    );
    expect(skip?.exitCode).toBe(EXIT_SKIP_STALENESS);
  });
});

describe('admission ledger: an unreadable known record', () => {
  it('is never admitted again with a new result_id (it could run twice)', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'kanade-ledger-'));
    dirs.push(dataDir);
    const ledger = await openAdmissionLedger(dataDir);
    const cmd = draftCommand({ shell: 'sh', script: 'echo once' });
    const body = new TextEncoder().encode(JSON.stringify(cmd));
    const now = Date.now();
    const admit = () =>
      ledger.admit({
        requestId: cmd.request_id,
        body,
        headers: {},
        subject: 'commands.all',
        receivedAt: formatRfc3339(now),
        resultId: uuidV4(),
        nowMs: now,
      });
    expect((await admit()).kind).toBe('admitted');
    await ledger.flush();
    const files = await readdir(path.join(dataDir, 'admission'));
    const record = files.find((f) => f.endsWith('.json'));
    if (record === undefined) throw new Error('no ledger record written');
    await writeFile(path.join(dataDir, 'admission', record), '{"truncated');
    await expect(admit()).rejects.toThrow(/unreadable/);
  });
});
