/**
 * The `watchTarget` effect: sends `target.changed` with the effective `target_version` and
 * `target_version_jitter` (§5.6) at once and on every change of either.
 */
import { fromCallback, type EventObject } from 'xstate';
import type { EffectiveConfig } from '../../contract/index.js';
import type { LivePort } from '../ports.js';
import type { TargetEvent } from './updater-types.js';

export const watchTarget = fromCallback<EventObject, LivePort<EffectiveConfig>>(({ input, sendBack }) => {
  let last: { target: string | null; jitterMs: number } | undefined;
  return input.watch((config) => {
    const target = config.target_version;
    const jitterMs = config.target_version_jitter_ms;
    if (last !== undefined && last.target === target && last.jitterMs === jitterMs) return;
    last = { target, jitterMs };
    sendBack({ type: 'target.changed', target, jitterMs } satisfies TargetEvent);
  });
});
