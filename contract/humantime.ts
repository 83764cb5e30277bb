/**
 * Durations in the humantime notation the kanade backend writes to KV (`"30s"`, `"10m"`, `"1h 30m"`)
 * and the agent writes into skip messages (`1m 30s`), contract §1 and §8.1.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  nsec: 1e-6,
  us: 1e-3,
  usec: 1e-3,
  ms: 1,
  msec: 1,
  millis: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

const PART = /(\d+)\s*([a-z]+)/gy;

/** Parses a humantime duration to milliseconds; `undefined` for anything else (empty, negative, unknown unit). */
export function parseDurationMs(text: string): number | undefined {
  const source = text.trim();
  if (source.length === 0) return undefined;
  let total = 0;
  let index = 0;
  PART.lastIndex = 0;
  while (index < source.length) {
    PART.lastIndex = index;
    const m = PART.exec(source);
    if (!m) return undefined;
    const unit = UNIT_MS[m[2] as string];
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
    index = PART.lastIndex;
    while (source[index] === ' ') index += 1;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

const FORMAT_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/** Formats milliseconds as humantime (`1m 30s`, `0s` for zero, `∞` for Infinity). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  let rest = Math.max(0, Math.round(ms));
  if (rest === 0) return '0s';
  const parts: string[] = [];
  for (const [unit, size] of FORMAT_UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(`${count}${unit}`);
    rest -= count * size;
  }
  return parts.join(' ');
}
