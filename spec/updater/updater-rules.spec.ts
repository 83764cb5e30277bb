/**
 * The updater's pure rules (machines/updater-rules.ts) and the self-update formats of the contract
 * (contract/agent-release.ts): target evaluation, jitter bounds, the §4 wait, the seeded random
 * sequence, release keys, version labels and the object digest compared as bytes.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { agentReleaseKey, decodeLastSwap, decodeObjectDigest, isReleaseVersion, sameDigest } from '../../contract/index.js';
import { evaluateTarget, jitterDelayMs, nextRandom, retryDelayMs } from '../../machines/updater-rules.js';

describe('evaluateTarget (§10 step 1)', () => {
  const loop = { target: '2.0.0', running_before: '1.0.0' };
  it.each([
    [null, [], null, 'none'],
    ['1.0.0', [], null, 'current'],
    ['2.0.0', [], null, 'update'],
    ['2.0.0', ['2.0.0'], null, 'quarantined'],
    ['2.0.0', [], loop, 'loop'],
    ['2.0.1', [], loop, 'update'],
    ['a/b', [], null, 'invalid'],
    ['', [], null, 'invalid'],
  ] as const)('target %s, quarantined %j, last swap %j → %s', (target, quarantined, lastSwap, kind) => {
    expect(evaluateTarget(target, '1.0.0', quarantined, lastSwap).kind).toBe(kind);
  });
});

describe('jitterDelayMs (§10 step 2: 0..=jitter)', () => {
  it.each([
    [600_000, 0, 0],
    [600_000, 0.5, 300_000],
    [600_000, 0.999_999_999, 600_000],
    [0, 0.7, 0],
    [1_000, 1, 1_000],
    [-5, 0.5, 0],
  ])('jitter %i ms, random %f → %i ms', (jitter, random, expected) => {
    expect(jitterDelayMs(jitter, random)).toBe(expected);
  });

  it('stays inside the bounds for many seeded draws', () => {
    let seed = 1;
    let [minValue, maxValue, minDelay, maxDelay] = [1, 0, Infinity, -Infinity];
    for (let i = 0; i < 10_000; i += 1) {
      const r = nextRandom(seed);
      seed = r.seed;
      const d = jitterDelayMs(10_000, r.value);
      [minValue, maxValue, minDelay, maxDelay] = [
        Math.min(minValue, r.value),
        Math.max(maxValue, r.value),
        Math.min(minDelay, d),
        Math.max(maxDelay, d),
      ];
    }
    expect(minValue).toBeGreaterThanOrEqual(0);
    expect(maxValue).toBeLessThan(1);
    expect(minDelay).toBeGreaterThanOrEqual(0);
    expect(maxDelay).toBeLessThanOrEqual(10_000);
    // Spread: the draws reach near both ends.
    expect(minDelay).toBeLessThan(100);
    expect(maxDelay).toBeGreaterThan(9_900);
  });

  it('the seeded sequence is reproducible', () => {
    expect(nextRandom(42)).toEqual(nextRandom(42));
    expect(nextRandom(42).value).not.toBe(nextRandom(43).value);
  });
});

describe('retryDelayMs (§4: 1 s doubling to 300 s, ±25 %)', () => {
  it.each([
    [0, 0.5, 1_000],
    [0, 0, 750],
    [0, 1, 1_250],
    [3, 0.5, 8_000],
    [9, 0.5, 300_000],
    [40, 1, 375_000],
  ])('attempt %i, random %f → %i ms', (attempt, random, expected) => {
    expect(retryDelayMs(attempt, random)).toBe(expected);
  });
});

describe('agent_releases keys and version labels (§4)', () => {
  it.each([
    ['win32', 'x64', '1.2.3'],
    ['linux', 'x64', '1.2.3-linux-x86_64'],
    ['linux', 'arm64', '1.2.3-linux-aarch64'],
    ['darwin', 'arm64', '1.2.3-macos-aarch64'],
    ['darwin', 'x64', undefined],
    ['freebsd', 'x64', undefined],
  ])('%s-%s → %s', (platform, arch, key) => {
    expect(agentReleaseKey('1.2.3', platform, arch)).toBe(key);
  });

  it.each([
    ['1.2.3', true],
    ['0.43.88-rc.1', true],
    ['v2', true],
    ['1.0.0+build.5', true],
    ['', false],
    ['.hidden', false],
    ['1..2', false],
    ['a/b', false],
    ['a\\b', false],
    ['x y', false],
    ['x'.repeat(65), false],
  ])('%j valid: %s', (label, valid) => {
    expect(isReleaseVersion(label)).toBe(valid);
  });
});

describe('decodeObjectDigest: compared as bytes, not text', () => {
  const bytes = createHash('sha256').update('kanade').digest();
  const urlPadded = `SHA-256=${bytes.toString('base64url')}=`;
  it.each([
    ['url-safe with padding (what NATS records)', urlPadded],
    ['url-safe without padding', `SHA-256=${bytes.toString('base64url')}`],
    ['standard alphabet with padding', `SHA-256=${bytes.toString('base64')}`],
    ['lower-case prefix', `sha-256=${bytes.toString('base64url')}`],
  ])('%s', (_, digest) => {
    const decoded = decodeObjectDigest(digest);
    expect(decoded).not.toBeNull();
    expect(sameDigest(decoded!, bytes)).toBe(true);
  });

  it.each([
    ['no prefix', bytes.toString('base64url')],
    ['another algorithm', `SHA-512=${bytes.toString('base64url')}`],
    ['too short', `SHA-256=${bytes.subarray(0, 31).toString('base64url')}`],
    ['not base64', 'SHA-256=!!!!'],
    ['hex', `SHA-256=${bytes.toString('hex')}`],
  ])('refuses %s', (_, digest) => {
    expect(decodeObjectDigest(digest)).toBeNull();
  });

  it('a different digest does not match', () => {
    const other = createHash('sha256').update('kanadf').digest();
    expect(sameDigest(decodeObjectDigest(urlPadded)!, other)).toBe(false);
  });
});

describe('last_swap.json (§10)', () => {
  it('decodes {"target","running_before"} and refuses anything else', () => {
    expect(decodeLastSwap('{"target":"2.0.0","running_before":"1.0.0","extra":1}')).toEqual({
      ok: true,
      value: { target: '2.0.0', running_before: '1.0.0' },
    });
    expect(decodeLastSwap('{"target":2}').ok).toBe(false);
    expect(decodeLastSwap('not json').ok).toBe(false);
  });
});
