/**
 * RFC 3339 timestamps as the contract uses them (§1): accept fractions and offsets, emit UTC with
 * milliseconds (`2026-05-16T00:00:00.000Z`, our choice).
 */
import { fail, string, type Decoder } from './decode.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp to epoch milliseconds; `undefined` when it is not one. */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone, sign, oh, om] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  let epoch = Date.UTC(Number(y), month - 1, day, hour, minute, Math.min(second, 59), ms);
  if (new Date(epoch).getUTCDate() !== day) return undefined; // e.g. Feb 30
  if (zone !== 'Z' && zone !== 'z') {
    const offset = (Number(oh) * 60 + Number(om)) * 60_000;
    epoch += sign === '+' ? -offset : offset;
  }
  return epoch;
}

/** Formats epoch milliseconds the way this agent emits every timestamp: UTC, `…:SS.sssZ`. */
export function formatRfc3339(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** Decodes an RFC 3339 string, keeping the original text (it is echoed into stderr messages). */
export const rfc3339: Decoder<string> = (value, path) => {
  const text = string(value, path);
  if (parseRfc3339(text) === undefined) fail(path, `expected an RFC 3339 timestamp, got ${JSON.stringify(text.slice(0, 60))}`);
  return text;
};
