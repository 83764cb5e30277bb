/** Ed25519 keys, signing and verification for command signatures (§6.1), on Node's own crypto. */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

// DER prefixes that wrap a raw 32-byte Ed25519 key as SPKI (public) or PKCS#8 (private seed).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const RAW_KEY_BYTES = 32;

/** A public key from its raw 32 bytes. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== RAW_KEY_BYTES) throw new Error(`an Ed25519 public key has ${RAW_KEY_BYTES} bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** A private key from its raw 32-byte seed. */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== RAW_KEY_BYTES) throw new Error(`an Ed25519 seed has ${RAW_KEY_BYTES} bytes, got ${seed.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The raw 32 bytes of a public key (or of the public half of a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'public' ? key : createPublicKey(key);
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - RAW_KEY_BYTES);
}

/**
 * Reads a signing key as operators keep it: standard base64 of the 32-byte seed (as in
 * `KANADE_COMMAND_SIGNING_KEY`), or a PEM PKCS#8 private key.
 */
export function parseSigningKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return createPrivateKey(trimmed);
  return privateKeyFromSeed(Buffer.from(trimmed, 'base64'));
}

/** A fresh key pair, with the seed and raw public key in base64 (for tests and `dev`). */
export function generateCommandKey(): { seedBase64: string; publicKeyBase64: string; privateKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    seedBase64: der.subarray(der.length - RAW_KEY_BYTES).toString('base64'),
    publicKeyBase64: rawPublicKey(publicKey).toString('base64'),
    privateKey,
  };
}

/** Signs `message` (already the signed bytes of §6.1). */
export function signBytes(privateKey: KeyObject, message: Uint8Array): Buffer {
  return sign(null, message, privateKey);
}

/** Verifies a 64-byte signature; false on any malformed input rather than throwing. */
export function verifyBytes(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}
