/**
 * Builds and publishes contract Commands the way the kanade backend and CLI do (§5.1, §6.1): used
 * by `kanade-agent exec`, `dev` and the tests. Never used by the resident agent itself.
 */
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { KeyObject } from 'node:crypto';
import {
  encodeCommand,
  HEADER_SIG,
  HEADER_SIG_ALG,
  HEADER_SIG_AT,
  HEADER_SIG_KID,
  SIG_ALG_ED25519,
  signedBytes,
  type Command,
} from '../contract/index.js';
import { signBytes } from './ed25519.js';
import { uuidV4 } from './ids.js';

/** The fields an operator gives; the rest take the `kanade run` defaults (`adhoc-run`, `0.0.0`). */
export type CommandDraft = Partial<Command> & Pick<Command, 'shell' | 'script'>;

/** Completes a draft into a Command with a fresh request_id. */
export function draftCommand(draft: CommandDraft): Command {
  return {
    id: 'adhoc-run',
    version: '0.0.0',
    request_id: uuidV4(),
    timeout_secs: 60,
    run_as: 'system',
    staleness: { mode: 'cached' },
    bypass_local_limit: false,
    ...draft,
  };
}

/** A signing identity: the private key and its kid. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly kid: string;
}

/** The `Kanade-Sig*` headers for `body` signed at `atMs` (§6.1). */
export function signatureHeaders(body: Uint8Array, key: SigningKey, atMs: number = Date.now()): MsgHdrs {
  const h = natsHeaders();
  const signature = signBytes(key.privateKey, signedBytes(BigInt(atMs), body));
  h.set(HEADER_SIG, signature.toString('base64'));
  h.set(HEADER_SIG_KID, key.kid);
  h.set(HEADER_SIG_ALG, SIG_ALG_ED25519);
  h.set(HEADER_SIG_AT, String(atMs));
  return h;
}

/** The exact bytes published for a Command. */
export function commandBytes(command: Command | Record<string, unknown>): Uint8Array {
  const body = 'shell' in command && 'staleness' in command ? encodeCommand(command as Command) : command;
  return new TextEncoder().encode(JSON.stringify(body));
}

/** Publishes a body on a `commands.*` subject (core publish, captured by stream EXEC), optionally signed. */
export async function publishCommand(nc: NatsConnection, subject: string, body: Uint8Array, key?: SigningKey): Promise<void> {
  nc.publish(subject, body, key ? { headers: signatureHeaders(body, key) } : undefined);
  await nc.flush();
}
