/** Command signature headers and signed bytes (§6.1), without any crypto (that is in actors/). */

export const HEADER_SIG = 'Kanade-Sig';
export const HEADER_SIG_KID = 'Kanade-Sig-Kid';
export const HEADER_SIG_ALG = 'Kanade-Sig-Alg';
export const HEADER_SIG_AT = 'Kanade-Sig-At';
export const SIG_ALG_ED25519 = 'ed25519';

/** Signed bytes = 8-byte big-endian i64 `at_ms` ‖ body. */
export function signedBytes(atMs: bigint, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setBigInt64(0, atMs, false);
  out.set(body, 8);
  return out;
}

/** Signature outcomes (§6.2 and §6.3) and the obs event kind each one raises. */
export const SIGNATURE_OUTCOME_KIND = {
  verified: 'command_signature_ok',
  unsigned: 'command_signature_absent',
  malformed: 'command_signature_invalid',
  unprovisioned: 'command_signature_unprovisioned',
  unknown_kid: 'command_signature_unknown_key',
  invalid: 'command_signature_invalid',
  stale: 'command_signature_stale',
} as const;
export type SignatureOutcome = keyof typeof SIGNATURE_OUTCOME_KIND;

/** The deterministic name hashed (UUIDv5, NAMESPACE_OID) into a signature-refusal's result_id (§6.2). */
export function signatureRefusedName(requestId: string, pcId: string): string {
  return `${requestId}|${pcId}|signature-refused`;
}

/** The deterministic name hashed into the result_id of a legacy command refused by `require_envelope` (§13). */
export function legacyRefusedName(requestId: string, pcId: string): string {
  return `${requestId}|${pcId}|legacy-refused`;
}

/** stderr of a legacy command refused by `[security] require_envelope` (§13). */
export const LEGACY_REFUSED_STDERR = 'refused: legacy command format (signed v2 envelopes are required on this host)';

/** stderr of a signature refusal (§6.2). */
export function signatureRefusedStderr(outcome: SignatureOutcome): string {
  return `refused: command signature ${outcome.replace('_', ' ')} (signed commands are required on this host)`;
}
