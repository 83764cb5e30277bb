/**
 * Turns the `configSync` hub (written by the `config` child) into machine events: sends
 * `config.syncChanged` with the current state at once and on every change, so a sibling can hold
 * a decision that KV may override (the first inventory run) until the KV config was read once.
 *
 * @example
 * setup({ actors: { watchConfigSync } }).createMachine({ invoke: { id: 'watchConfigSync', src: 'watchConfigSync', input: ({ context }) => context.services.configSync } });
 */
import { fromCallback } from 'xstate';
import type { ConfigSyncState, LivePort } from '../ports.js';

/** The event {@link watchConfigSync} sends. */
export interface ConfigSyncChanged {
  readonly type: 'config.syncChanged';
  readonly state: ConfigSyncState;
}

/** Watches the hub; unsubscribes when the invoking state is left. */
export const watchConfigSync = fromCallback<{ type: string }, LivePort<ConfigSyncState>>(({ input, sendBack }) =>
  input.watch((state) => sendBack({ type: 'config.syncChanged', state } satisfies ConfigSyncChanged)),
);
