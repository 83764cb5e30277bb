/** The command keyring file format (§6.2): `[{"kid","public_key","label"?,"max_age_secs"?,"audit_every_use"?}]`. */
import {
  arrayOf,
  boolean,
  decodeJson,
  fail,
  field,
  nonEmptyString,
  optional,
  record,
  string,
  unsigned,
  type Decoded,
  type Decoder,
} from './decode.js';

export interface CommandKey {
  readonly kid: string;
  /** Standard base64 of the 32-byte Ed25519 public key. */
  readonly public_key: string;
  readonly label?: string;
  /** Marks a break-glass key: signatures older than this are stale. */
  readonly max_age_secs?: number;
  readonly audit_every_use?: boolean;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const commandKey: Decoder<CommandKey> = (value, path) => {
  const obj = record(value, path);
  const publicKey = field(obj, 'public_key', string, path);
  if (!BASE64.test(publicKey) || base64ByteLength(publicKey) !== 32)
    fail(`${path}.public_key`, 'expected standard base64 of a 32-byte Ed25519 public key');
  const label = optional(obj, 'label', string, path);
  const maxAge = optional(obj, 'max_age_secs', unsigned, path);
  const audit = optional(obj, 'audit_every_use', boolean, path);
  return {
    kid: field(obj, 'kid', nonEmptyString, path),
    public_key: publicKey,
    ...(label !== undefined && { label }),
    ...(maxAge !== undefined && { max_age_secs: maxAge }),
    ...(audit !== undefined && { audit_every_use: audit }),
  };
};

function base64ByteLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return text.length % 4 === 0 ? (text.length / 4) * 3 - padding : -1;
}

/** A keyring: an array of keys with unique kids (a duplicate kid rejects the whole ring). */
export const commandKeys: Decoder<CommandKey[]> = (value, path) => {
  const keys = arrayOf(commandKey)(value, path);
  const seen = new Set<string>();
  keys.forEach((key, index) => {
    if (seen.has(key.kid)) fail(`[${index}].kid`, `duplicate kid ${JSON.stringify(key.kid)}; the ring is rejected`);
    seen.add(key.kid);
  });
  return keys;
};

export function decodeCommandKeys(bytes: Uint8Array | string): Decoded<CommandKey[]> {
  return decodeJson(commandKeys, bytes);
}
