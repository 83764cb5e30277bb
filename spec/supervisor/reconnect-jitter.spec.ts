/** The reconnect jitter knob (actors/nats-connection.ts): default 1 s, env override, never above the wait. */
import { describe, expect, it } from 'vitest';
import { NATS_RECONNECT_JITTER_ENV, RECONNECT_JITTER_MS, reconnectJitterMs } from '../../actors/nats-connection.js';

describe('reconnectJitterMs', () => {
  it.each([
    [2_000, undefined, RECONNECT_JITTER_MS],
    [100, undefined, 100],
    [2_000, '0', 0],
    [2_000, '250', 250],
    [2_000, '5000', 2_000],
    [2_000, '', RECONNECT_JITTER_MS],
    [2_000, '-1', RECONNECT_JITTER_MS],
    [2_000, 'soon', RECONNECT_JITTER_MS],
  ])('wait %i ms, env %s → %i ms', (waitMs, raw, expected) => {
    const env = raw === undefined ? {} : { [NATS_RECONNECT_JITTER_ENV]: raw };
    expect(reconnectJitterMs(waitMs, env)).toBe(expected);
  });
});
