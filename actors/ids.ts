/** Identifiers: random UUIDv4 and name-based UUIDv5 (SHA-1) as the contract requires (§1, §6.2). */
import { createHash, randomUUID } from 'node:crypto';
import { legacyRefusedName, signatureRefusedName, UUID_NAMESPACE_OID } from '../contract/index.js';

/** A fresh random UUIDv4. */
export function uuidV4(): string {
  return randomUUID();
}

/** RFC 4122 UUIDv5 of `name` in `namespace`. */
export function uuidV5(name: string, namespace: string = UUID_NAMESPACE_OID): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The deterministic result_id of a `require_envelope` refusal (§13): live and replay copies share it. */
export function legacyRefusedResultId(requestId: string, pcId: string): string {
  return uuidV5(legacyRefusedName(requestId, pcId));
}

/** The deterministic result_id of a signature refusal (§6.2). */
export function signatureRefusedResultId(requestId: string, pcId: string): string {
  return uuidV5(signatureRefusedName(requestId, pcId));
}
