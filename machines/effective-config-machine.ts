/**
 * The `config` child (contract §5.6): keeps the layers of KV `agent_config` and this PC's group
 * membership, resolves them to the effective config, and is the only writer of the
 * `effectiveConfig` and `groups` hubs and of `configSync` (true once the KV was read at least once). While the buckets cannot be read it waits and retries
 * (contract §4: 1 s doubling to 300 s, ±25 % jitter, woken on reconnect); the hubs keep their
 * last values (defaults at first), so siblings always have something to run with.
 *
 * @example
 * const actor = createActor(effectiveConfigMachine, { input: services }).start();
 * services.effectiveConfig.watch((config) => console.log(config.heartbeat_interval_ms));
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { EffectiveConfig } from '../contract/index.js';
import type { ConfigServices } from '../actors/ports.js';
import type { watchBroker } from '../actors/kv-config/watch-broker.js';
import type { BrokerEvent } from '../domain/broker-event.js';
import type { KvConfigEvent, watchKvConfig } from '../actors/kv-config/watch-kv-config.js';
import { applyKvEntry, emptyLayerState, resolveLayers, type LayerState } from '../domain/config-layers.js';
import { resourceRetryDelayMs } from '../domain/resource-backoff.js';
import { notProvided } from './not-provided.js';
import { logEffect, type LogLine } from './log-line.js';

/**
 * Input of the `config` child: its services, with the write side of the effectiveConfig and groups
 * hubs it owns, plus the host's logical CPU count (the default of `max_local_concurrent`), read by
 * the supervisor.
 */
export type EffectiveConfigInput = ConfigServices & {
  readonly logicalCpus: number;
};

/** The `status` summary of the `config` child. */
export interface EffectiveConfigStatus {
  /** True once the KV walk finished at least once since start. */
  readonly synced: boolean;
  readonly groups: readonly string[];
  readonly effective: EffectiveConfig | null;
  readonly lastChangeAt: string | null;
  readonly lastError: string | null;
  /** Retry attempts since the last successful walk. */
  readonly attempt: number;
  /** When the next attempt is due while backing off, else null. */
  readonly nextRetryAt: string | null;
}

interface Context {
  readonly services: ConfigServices;
  readonly logicalCpus: number;
  readonly connected: boolean;
  readonly layers: LayerState;
  readonly attempt: number;
  /** The wait chosen for the current backoff (§4 schedule with jitter). */
  readonly retryDelayMs: number;
  /** Conflict warnings already logged, so a recompute does not repeat them. */
  readonly loggedConflicts: readonly string[];
  readonly status: EffectiveConfigStatus;
}

type Event = BrokerEvent | KvConfigEvent | { readonly type: 'shutdown' };

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The effect that logs `line` as this child. */
const log = (context: Context, line: LogLine) => logEffect(context.services.log, { ...line, fields: { child: 'config', ...line.fields } });

/** The `config` child's statechart. */
export const effectiveConfigMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as EffectiveConfigInput,
  },
  actors: {
    watchBroker: notProvided<typeof watchBroker>('watchBroker'),
    watchKvConfig: notProvided<typeof watchKvConfig>('watchKvConfig'),
  },
  actions: {
    rememberConnection: assign({ connected: true }),
    forgetConnection: assign({ connected: false }),
    applyEntry: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'kv.entryReceived') return;
      const applied = applyKvEntry(context.layers, event.entry, context.services.config.pcId);
      for (const warning of applied.warnings) enqueue(log(context, { level: 'warn', msg: warning }));
      enqueue.assign({ layers: applied.state });
    }),
    publishHubs: enqueueActions(({ context, enqueue }) => {
      const resolved = resolveLayers(context.layers, context.services.config.pcId, context.logicalCpus);
      // Conflicts are logged once each, when they first appear, not on every recompute.
      for (const warning of resolved.warnings) {
        if (!context.loggedConflicts.includes(warning)) enqueue(log(context, { level: 'warn', msg: warning }));
      }
      // status.effective / status.groups mirror the hubs: this child is their only writer.
      const configChanged = !sameJson(context.status.effective, resolved.config);
      const groupsChanged = !sameJson(context.status.groups, resolved.groups);
      enqueue.assign({
        loggedConflicts: resolved.warnings,
        status: {
          ...context.status,
          groups: resolved.groups,
          effective: resolved.config,
          ...((configChanged || groupsChanged) && { lastChangeAt: new Date(context.services.now()).toISOString() }),
        },
      });
      if (configChanged) {
        // The one write of the `effectiveConfig` hub: an effect the interpreter runs, never inside an assigner.
        enqueue(() => context.services.effectiveConfig.set(resolved.config));
        enqueue(log(context, { level: 'info', msg: 'effective config changed', fields: { effective: resolved.config } }));
      }
      if (groupsChanged) {
        enqueue(() => context.services.groups.set(resolved.groups));
        enqueue(log(context, { level: 'info', msg: 'group membership changed', fields: { groups: resolved.groups } }));
      }
    }),
    clearNextRetry: assign(({ context }) => ({ status: { ...context.status, nextRetryAt: null } })),
    publishSynced: enqueueActions(({ context, enqueue }) => {
      // After publishHubs: a sibling told "synced" already sees the resolved config. The hub stays
      // true across this child's restarts (it lives in the root's services), so it is set once.
      const hub = context.services.configSync;
      enqueue(() => {
        if (!hub.current().synced) hub.set({ synced: true, lastError: null });
      });
    }),
    markSynced: assign(({ context }) => ({
      attempt: 0,
      status: { ...context.status, synced: true, attempt: 0, lastError: null, nextRetryAt: null },
    })),
    recordFailure: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'kv.failed') return;
      const what = event.missing ? 'KV buckets not there yet (the kanade backend creates them); waiting' : 'KV read failed; retrying';
      enqueue(log(context, { level: 'warn', msg: what, fields: { attempt: context.attempt + 1, reason: event.reason } }));
      // Until the first sync, siblings waiting for it can say why it has not come (the inventory's bounded wait).
      const hub = context.services.configSync;
      const reason = `${event.missing ? 'KV buckets missing' : 'KV read failed'}: ${event.reason}`;
      enqueue(() => {
        if (!hub.current().synced) hub.set({ synced: false, lastError: reason });
      });
      const retryDelayMs = resourceRetryDelayMs(context.attempt, context.services.random);
      enqueue.assign({
        attempt: context.attempt + 1,
        retryDelayMs,
        status: {
          ...context.status,
          lastError: event.reason,
          attempt: context.attempt + 1,
          nextRetryAt: new Date(context.services.now() + retryDelayMs).toISOString(),
        },
      });
    }),
  },
  guards: {
    isConnected: ({ context }) => context.connected,
  },
  delays: {
    retryDelay: ({ context }) => context.retryDelayMs,
  },
}).createMachine({
  id: 'config',
  context: ({ input }) => ({
    services: input,
    logicalCpus: input.logicalCpus,
    connected: false,
    layers: emptyLayerState(),
    attempt: 0,
    retryDelayMs: 0,
    loggedConflicts: [],
    status: {
      synced: false,
      groups: input.groups.current(),
      effective: input.effectiveConfig.current(),
      lastChangeAt: null,
      lastError: null,
      attempt: 0,
      nextRetryAt: null,
    },
  }),
  invoke: { id: 'watchBroker', src: 'watchBroker', input: ({ context }) => context.services.broker },
  initial: 'running',
  on: {
    shutdown: { target: '.stopped' },
  },
  states: {
    running: {
      initial: 'waitingForBroker',
      on: {
        'broker.connected': { target: '.syncing', actions: 'rememberConnection' },
        'broker.disconnected': { target: '.waitingForBroker', actions: 'forgetConnection' },
      },
      states: {
        waitingForBroker: {
          description: 'No broker connection: the hubs keep their last values until KV can be read again.',
          tags: ['degraded'],
        },
        syncing: {
          description: 'Walks agent_config and the group buckets, then watches them; each entry is folded in by revision.',
          invoke: {
            id: 'watchKvConfig',
            src: 'watchKvConfig',
            input: ({ context }) => ({
              broker: context.services.broker,
              pcId: context.services.config.pcId,
              log: context.services.log,
              failpoints: context.services.failpoints,
            }),
          },
          on: {
            'kv.failed': { target: 'backoff', actions: 'recordFailure' },
          },
          initial: 'walking',
          states: {
            walking: {
              description:
                'Boot walk: entries are folded in but the hubs change only once the walk is complete, so siblings never see a half-layered config (a group target_version before the pc layer overrides it).',
              tags: ['busy'],
              on: {
                'kv.entryReceived': { actions: 'applyEntry' },
                'kv.synced': { target: 'live', actions: ['markSynced', 'publishHubs', 'publishSynced'] },
              },
            },
            live: {
              description: 'Watching: KV changes apply as they arrive.',
              tags: ['healthy'],
              on: { 'kv.entryReceived': { actions: ['applyEntry', 'publishHubs'] } },
            },
          },
        },
        backoff: {
          exit: 'clearNextRetry',
          description:
            'A bucket is missing or a read failed: wait (1 s doubling to 300 s, ±25 %) and try again; a reconnect retries at once.',
          tags: ['degraded'],
          after: { retryDelay: { target: 'syncing', guard: 'isConnected' } },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
