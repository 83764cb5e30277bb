/**
 * Tiny runtime decoders for wire payloads: each failure names the field (a JSON path) and why.
 *
 * Decoders throw a private `DecodeFailure` while walking; `decode()` turns that into a value, so no
 * error ever escapes past the caller of a `decodeX()` function.
 */

/** Where a payload is wrong and why, e.g. `{ path: "command.timeout_secs", reason: "expected a non-negative integer, got -1" }`. */
export interface DecodeError {
  readonly path: string;
  readonly reason: string;
}

/** The result of decoding: the typed value, or the first precise error. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DecodeError };

/** A decoder reads `value` found at `path` and returns the typed value or throws a DecodeFailure. */
export type Decoder<T> = (value: unknown, path: string) => T;

class DecodeFailure extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** Formats a decode error as one log-friendly line. */
export function describeDecodeError(error: DecodeError): string {
  return `${error.path || '(root)'}: ${error.reason}`;
}

/** Stops decoding with a precise reason at `path`. */
export function fail(path: string, reason: string): never {
  throw new DecodeFailure(path, reason);
}

/** Short, bounded description of an offending value for error messages. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Runs a decoder, turning the first failure into a `DecodeError` value. */
export function decode<T>(decoder: Decoder<T>, value: unknown, path = ''): Decoded<T> {
  try {
    return { ok: true, value: decoder(value, path) };
  } catch (err) {
    if (err instanceof DecodeFailure) return { ok: false, error: { path: err.path, reason: err.reason } };
    return { ok: false, error: { path, reason: err instanceof Error ? err.message : String(err) } };
  }
}

/** Parses UTF-8 JSON bytes or text, then decodes; bad JSON is a decode error at the root. */
export function decodeJson<T>(decoder: Decoder<T>, input: Uint8Array | string): Decoded<T> {
  let parsed: unknown;
  try {
    const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true }).decode(input);
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: { path: '', reason: `not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})` } };
  }
  return decode(decoder, parsed);
}

const join = (path: string, key: string | number): string => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

/** Requires a plain JSON object. */
export function record(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, `expected an object, got ${show(value)}`);
  return value as Record<string, unknown>;
}

/** Reads a required field of an object with `decoder`; a missing or null field fails with "is required". */
export function field<T>(obj: Record<string, unknown>, key: string, decoder: Decoder<T>, path: string): T {
  const value = obj[key];
  if (value === undefined || value === null) fail(join(path, key), 'is required');
  return decoder(value, join(path, key));
}

/** Reads an optional field: absent or `null` gives `undefined` (contract §1: null = absent). */
export function optional<T>(obj: Record<string, unknown>, key: string, decoder: Decoder<T>, path: string): T | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  return decoder(value, join(path, key));
}

/** Any JSON string. */
export const string: Decoder<string> = (value, path) => {
  if (typeof value !== 'string') fail(path, `expected a string, got ${show(value)}`);
  return value;
};

/** A string with at least one character. */
export const nonEmptyString: Decoder<string> = (value, path) => {
  const text = string(value, path);
  if (text.length === 0) fail(path, 'must not be empty');
  return text;
};

/** A JSON boolean. */
export const boolean: Decoder<boolean> = (value, path) => {
  if (typeof value !== 'boolean') fail(path, `expected true or false, got ${show(value)}`);
  return value;
};

/** A non-negative integer that fits a JavaScript number exactly (u32/u64 on the wire). */
export const unsigned: Decoder<number> = (value, path) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(path, `expected a non-negative integer, got ${show(value)}`);
  }
  return value;
};

/** An integer in the i32 range. */
export const int32: Decoder<number> = (value, path) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -2147483648 || value > 2147483647) {
    fail(path, `expected a 32-bit integer, got ${show(value)}`);
  }
  return value;
};

/** Any finite JSON number. */
export const finiteNumber: Decoder<number> = (value, path) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, `expected a number, got ${show(value)}`);
  return value;
};

/** A string that is one of `choices`. */
export function oneOf<const C extends readonly string[]>(choices: C): Decoder<C[number]> {
  return (value, path) => {
    if (typeof value !== 'string' || !choices.includes(value)) {
      fail(path, `expected one of ${choices.map((c) => JSON.stringify(c)).join(', ')}, got ${show(value)}`);
    }
    return value as C[number];
  };
}

/** A JSON array whose items all decode with `item`. */
export function arrayOf<T>(item: Decoder<T>): Decoder<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) fail(path, `expected an array, got ${show(value)}`);
    return value.map((entry, index) => item(entry, join(path, index)));
  };
}

/** Narrows a decoded value further with a predicate. */
export function refine<T>(decoder: Decoder<T>, ok: (value: T) => boolean, reason: string): Decoder<T> {
  return (value, path) => {
    const decoded = decoder(value, path);
    if (!ok(decoded)) fail(path, `${reason}, got ${show(value)}`);
    return decoded;
  };
}

/** Any JSON value, kept as is (for fields the contract accepts and ignores). */
export const anyJson: Decoder<unknown> = (value) => value;
