/**
 * Builds and publishes contract Commands the way the kanade backend and CLI do (§5.1, §6.1): used
 * by `kanade-agent exec`, `dev` and the tests. Never used by the resident agent itself.
 */
import { jetstream, JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { headers as natsHeaders, RequestError, TimeoutError, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { KeyObject } from 'node:crypto';
import {
  encodeCommand,
  HEADER_SIG,
  HEADER_SIG_ALG,
  HEADER_SIG_AT,
  HEADER_SIG_KID,
  SIG_ALG_ED25519,
  signedBytes,
  STREAM_EXEC,
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

/** How long one attempt waits for EXEC's PubAck. */
export const COMMAND_PUBACK_TIMEOUT_MS = 5_000;
/** How long {@link publishCommand} keeps trying before it reports the command as not stored. */
export const COMMAND_STORE_DEADLINE_MS = 30_000;
/** Pause between attempts while no stream answers. */
const COMMAND_RETRY_PAUSE_MS = 250;

/** Options of {@link publishCommand}. */
export interface PublishCommandOptions {
  /** Give up (reject) after this long without a PubAck; {@link COMMAND_STORE_DEADLINE_MS} by default. */
  readonly deadlineMs?: number;
}

/**
 * Whether a failed attempt may succeed later: no PubAck in time (EXEC's leader is being elected after
 * its node died) or no responder at all / 503 (EXEC absent or not yet placed).
 */
function storeMayRecover(err: unknown): boolean {
  if (err instanceof TimeoutError) return true;
  // nats.js reports "no responders" as JetStreamNotEnabled (not exported) with the RequestError as cause.
  const request = err instanceof RequestError ? err : err instanceof Error && err.cause instanceof RequestError ? err.cause : undefined;
  if (request?.isNoResponders() === true) return true;
  return err instanceof JetStreamApiError && err.code === 503;
}

/**
 * Publishes a body on a `commands.*` subject as a JetStream publish (still a plain message to every
 * live subscriber) and resolves only with stream EXEC's PubAck, so an agent that is offline right now
 * gets the command from its replay consumer when it comes back (§7). A core publish plus flush
 * reports success even when no stream stored the message: while EXEC's leader is being re-elected
 * (its node died), live agents run it and the agents that were on that node never see it. Retries
 * with the same bytes and headers until `deadlineMs`; a copy stored twice is one command to the
 * agents (same request_id, same bytes: §7 duplicate). Rejects when EXEC never acknowledged.
 */
export async function publishCommand(
  nc: NatsConnection,
  subject: string,
  body: Uint8Array,
  key?: SigningKey,
  opts: PublishCommandOptions = {},
): Promise<PubAck> {
  const js = jetstream(nc);
  const headers = key ? signatureHeaders(body, key) : undefined;
  const deadline = Date.now() + (opts.deadlineMs ?? COMMAND_STORE_DEADLINE_MS);
  for (let attempt = 1; ; attempt += 1) {
    const left = deadline - Date.now();
    try {
      return await js.publish(subject, body, {
        ...(headers !== undefined && { headers }),
        expect: { streamName: STREAM_EXEC },
        timeout: Math.max(1, Math.min(COMMAND_PUBACK_TIMEOUT_MS, left)),
      });
    } catch (err) {
      if (!storeMayRecover(err) || Date.now() + COMMAND_RETRY_PAUSE_MS >= deadline) {
        throw new Error(
          `command on ${subject} not stored in stream ${STREAM_EXEC} (no PubAck after ${attempt} attempt${attempt === 1 ? '' : 's'}: ` +
            `${(err as Error).message}); agents connected now may have received it, agents offline will not`,
          { cause: err },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, COMMAND_RETRY_PAUSE_MS));
    }
  }
}
