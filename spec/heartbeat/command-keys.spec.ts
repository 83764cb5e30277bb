/**
 * Heartbeat `command_keys` / `enforcing` come from the agent's keyring (§5.4, §6.2): fingerprint =
 * first 16 hex of SHA-256 of the raw 32-byte key; re-read on each periodic beat, not on a ping.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCommandKeyStatus } from '../../actors/heartbeat/command-key-status.js';
import { createTestServices } from '../config-kv/test-services.js';

function rawKey(): Buffer {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}
const fingerprint = (raw: Buffer) => createHash('sha256').update(raw).digest('hex').slice(0, 16);

describe('heartbeat command_keys from the keyring', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kanade-hb-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports kid:fingerprint and enforcing; periodic beats re-read the file, pings do not', async () => {
    const file = path.join(dir, 'command-keys.json');
    const first = rawKey();
    await writeFile(file, JSON.stringify([{ kid: 'backend-1', public_key: first.toString('base64') }]));
    const t = createTestServices('PC-keys', { config: { security: { commandKeysFile: file, requireSignedCommands: true } } });
    expect(await readCommandKeyStatus(t.services, { reload: true })).toEqual({
      command_keys: [`backend-1:${fingerprint(first)}`],
      enforcing: true,
    });

    const second = rawKey();
    await writeFile(
      file,
      JSON.stringify([
        { kid: 'backend-1', public_key: first.toString('base64') },
        { kid: 'backend-2', public_key: second.toString('base64') },
      ]),
    );
    expect((await readCommandKeyStatus(t.services, { reload: false })).command_keys).toHaveLength(1);
    expect((await readCommandKeyStatus(t.services, { reload: true })).command_keys).toEqual([
      `backend-1:${fingerprint(first)}`,
      `backend-2:${fingerprint(second)}`,
    ]);
  });

  it('no keyring file with enforcement requested: no keys, enforcing (fail closed, #13)', async () => {
    const t = createTestServices('PC-nokeys', {
      config: { security: { commandKeysFile: path.join(dir, 'missing.json'), requireSignedCommands: true } },
    });
    expect(await readCommandKeyStatus(t.services, { reload: true })).toEqual({ command_keys: [], enforcing: true });
  });
});
