/**
 * Classifies a command's detached signature (§6.1, §6.2): verify over `at_ms ‖ body`, then parse.
 * Verification never throws; every header problem is `malformed`, never `unsigned`.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import {
  ADMISSION_TOMBSTONE_MS,
  HEADER_SIG,
  HEADER_SIG_ALG,
  HEADER_SIG_AT,
  HEADER_SIG_KID,
  SIG_ALG_ED25519,
  signedBytes,
  type SignatureOutcome,
} from '../../contract/index.js';
import { verifyBytes } from '../ed25519.js';
import type { Keyring, RingKey } from './keyring.js';

const SIGNATURE_BYTES = 64;
const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DECIMAL = /^-?\d{1,19}$/;

/** What verification found; `atMs` and `key` are set once the headers parsed and the kid resolved. */
export interface SignatureCheck {
  readonly outcome: SignatureOutcome;
  readonly kid?: string;
  readonly atMs?: number;
  readonly key?: RingKey;
  /** One human sentence for logs and the obs payload. */
  readonly reason: string;
}

/** Header values as plain strings (JetStream and core messages both give MsgHdrs). */
export type HeaderMap = Readonly<Record<string, string>>;

/** Reads the `Kanade-Sig*` headers of a message into a plain map (also what the ledger stores). */
export function signatureHeaders(headers: MsgHdrs | undefined): HeaderMap {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  for (const name of [HEADER_SIG, HEADER_SIG_KID, HEADER_SIG_ALG, HEADER_SIG_AT]) {
    if (headers.has(name)) out[name] = headers.get(name);
  }
  return out;
}

/**
 * Verifies `body` against the ring. `checkMaxAge` (legacy commands) applies the break-glass
 * freshness bound and, while enforcing, the 8-day replay horizon (§6.2); v2 envelopes check the
 * break-glass bound last instead (§6.3 KeyAgeExceeded) and carry their own expiry.
 */
export async function verifySignature(
  headers: HeaderMap,
  body: Uint8Array,
  ring: Keyring,
  nowMs: number,
  checkMaxAge = true,
): Promise<SignatureCheck> {
  // A changed file is re-read before it decides anything (§6.2): one stat per command.
  await ring.refreshIfChanged();
  const sig = headers[HEADER_SIG];
  const kid = headers[HEADER_SIG_KID];
  const alg = headers[HEADER_SIG_ALG];
  const at = headers[HEADER_SIG_AT];
  if (sig === undefined && kid === undefined && alg === undefined && at === undefined) {
    return { outcome: 'unsigned', reason: 'no Kanade-Sig headers' };
  }
  if (sig === undefined || kid === undefined || at === undefined) {
    return {
      outcome: 'malformed',
      ...(kid !== undefined && { kid }),
      reason: 'partial Kanade-Sig headers (need Kanade-Sig, Kanade-Sig-Kid and Kanade-Sig-At)',
    };
  }
  if (alg !== undefined && alg.trim().toLowerCase() !== SIG_ALG_ED25519) {
    return { outcome: 'malformed', kid, reason: `unsupported Kanade-Sig-Alg ${JSON.stringify(alg)}` };
  }
  const signature = STANDARD_BASE64.test(sig.trim()) ? Buffer.from(sig.trim(), 'base64') : undefined;
  if (signature === undefined || signature.length !== SIGNATURE_BYTES) {
    return { outcome: 'malformed', kid, reason: 'Kanade-Sig is not standard base64 of 64 bytes' };
  }
  if (!DECIMAL.test(at.trim())) return { outcome: 'malformed', kid, reason: 'Kanade-Sig-At is not decimal milliseconds' };
  const atBig = BigInt(at.trim());
  if (atBig > 0x7fff_ffff_ffff_ffffn || atBig < -0x8000_0000_0000_0000n) {
    return { outcome: 'malformed', kid, reason: 'Kanade-Sig-At does not fit an i64' };
  }
  const atMs = Number(atBig);
  if (ring.size() === 0) return { outcome: 'unprovisioned', kid, atMs, reason: 'signed, but this host has no command keys' };
  let key = ring.lookup(kid);
  if (key === undefined && (await ring.reloadForUnknownKid(kid))) key = ring.lookup(kid);
  if (key === undefined) return { outcome: 'unknown_kid', kid, atMs, reason: `unknown key id ${JSON.stringify(kid)}` };
  if (!verifyBytes(key.publicKey, signedBytes(atBig, body), signature)) {
    return { outcome: 'invalid', kid, atMs, key, reason: `signature does not verify with key ${kid}` };
  }
  if (checkMaxAge && key.maxAgeSecs !== undefined && Math.abs(nowMs - atMs) > key.maxAgeSecs * 1000) {
    return { outcome: 'stale', kid, atMs, key, reason: `break-glass key ${kid} signature is older than max_age_secs=${key.maxAgeSecs}` };
  }
  // While enforcing, a legacy signature older than the ledger's tombstone horizon may have lost its
  // ledger record and could run a second time: Stale (§6.2, our choice). v2 envelopes expire sooner.
  if (checkMaxAge && ring.enforcing() && nowMs - atMs > ADMISSION_TOMBSTONE_MS) {
    return {
      outcome: 'stale',
      kid,
      atMs,
      key,
      reason: `signature is older than the ${ADMISSION_TOMBSTONE_MS / 86_400_000}-day replay horizon`,
    };
  }
  return { outcome: 'verified', kid, atMs, key, reason: `verified with key ${kid}` };
}
