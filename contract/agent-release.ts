/**
 * Self-update formats (§4, §10): the check a `target_version` must pass before it reaches an object
 * key or a file name (keys: contract/release-key.ts), the object digest `SHA-256=<base64url>` as
 * bytes, and `<data_dir>/last_swap.json`.
 *
 * @example
 * decodeObjectDigest('SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU='); // 32 bytes
 */
import { decodeJson, field, record, string, type Decoded, type Decoder } from './decode.js';

/** Longest version label accepted from `target_version` (it becomes part of a file name). */
export const MAX_RELEASE_VERSION_LENGTH = 64;

const VERSION_LABEL = /^[0-9A-Za-z][0-9A-Za-z._+-]*$/;

/**
 * True when `version` may be used as an object key part and a file name part: 1–64 characters of
 * `[0-9A-Za-z._+-]`, starting with a letter or digit, no `..`. A KV value is hostile until checked.
 */
export function isReleaseVersion(version: string): boolean {
  return version.length <= MAX_RELEASE_VERSION_LENGTH && VERSION_LABEL.test(version) && !version.includes('..');
}

/** Byte length of a SHA-256 digest. */
export const SHA256_BYTES = 32;

const DIGEST_PREFIXES = ['SHA-256=', 'sha-256='] as const;

/**
 * The object store's digest as the 32 digest bytes, or null when it is not a SHA-256 digest.
 * The base64 payload is compared as bytes, never as text: padding (`=`) and the url-safe or
 * standard alphabet are all accepted (a string comparison once wedged the Rust fleet on padding).
 */
export function decodeObjectDigest(digest: string): Uint8Array | null {
  const prefix = DIGEST_PREFIXES.find((p) => digest.startsWith(p));
  if (prefix === undefined) return null;
  const payload = digest.slice(prefix.length).replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*$/.test(payload) || payload.length % 4 === 1) return null;
  let binary: string;
  try {
    binary = atob(payload + '='.repeat((4 - (payload.length % 4)) % 4));
  } catch {
    return null;
  }
  if (binary.length !== SHA256_BYTES) return null;
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** True when two digests hold the same bytes. */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** `<data_dir>/last_swap.json` (§10): the target of the last swap and the version running before it. */
export interface LastSwap {
  readonly target: string;
  readonly running_before: string;
}

export const lastSwap: Decoder<LastSwap> = (value, path) => {
  const obj = record(value, path);
  return { target: field(obj, 'target', string, path), running_before: field(obj, 'running_before', string, path) };
};

export function decodeLastSwap(bytes: Uint8Array | string): Decoded<LastSwap> {
  return decodeJson(lastSwap, bytes);
}

/** The line `<exe> --version` prints (§10): `kanade-agent <version>`. */
export function versionLine(version: string): string {
  return `kanade-agent ${version}`;
}
