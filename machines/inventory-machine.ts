/**
 * The `inventory` child (contract §5.5): collects the hardware inventory soon after the first
 * connect (small jitter), then every `inventory_interval` + 0..`inventory_jitter`, and core-publishes
 * it on `inventory.<pc_id>.hw`. Settings come from agent.toml `[inventory]`, overridden by the
 * effective config. The first run waits until the KV config was read once (`configSync`), so a
 * KV `inventory_enabled=false` is not missed by it; if the KV cannot be read within
 * {@link CONFIG_SYNC_WAIT_MS} of the first connect, it runs with the settings it has and says why. A failed part is logged by name and the cycle ends; a failed publish keeps the
 * collected inventory and retries with the §4 backoff (and at once on reconnect).
 *
 * `sw` and `net` are collected only by `kanade-agent inventory`: the contract reserves their
 * subjects without a shape and says they are not published.
 *
 * @example
 * const actor = createActor(inventoryMachine, { input: services }).start();
 */
import { assign, enqueueActions, sendTo, setup } from 'xstate';
import { timerDelayMs, type HwInventory } from '../contract/index.js';
import type { ConfigSyncState, InventoryServices } from '../actors/ports.js';
import type { watchBroker } from '../actors/kv-config/watch-broker.js';
import type { ConfigSyncChanged, watchConfigSync } from '../actors/kv-config/watch-config-sync.js';
import type { BrokerEvent } from '../domain/broker-event.js';
import { resourceRetryDelayMs } from '../domain/resource-backoff.js';
import type { inventorySession } from '../actors/inventory/inventory-session.js';
import type { InventoryReport } from '../actors/inventory/collect-inventory.js';
import type { PublishHwOutput, publishHw } from '../actors/inventory/publish-hw.js';
import { inventorySettings, type InventorySettings, type watchInventorySettings } from '../actors/inventory/watch-inventory-settings.js';
import { notProvided } from './not-provided.js';
import { logEffect, type LogLine } from './log-line.js';

/** The first run waits 0..min(this, inventory jitter) after the first connect, so a fleet restart does not collect in lockstep. */
export const FIRST_RUN_JITTER_MS = 30_000;
/**
 * The first run waits at most this long after the first connect for the KV config to be read; then
 * it goes ahead with agent.toml's `[inventory]` (or what KV gave before) and logs why once.
 */
export const CONFIG_SYNC_WAIT_MS = 60_000;
/** A collection that has not answered after this is abandoned for this cycle (a hung `df`, WMI). */
export const COLLECT_TIMEOUT_MS = 10 * 60_000;

/** The `status` summary of the `inventory` child. */
export interface InventoryStatus {
  readonly enabled: boolean;
  readonly runs: number;
  readonly lastRunAt: string | null;
  readonly lastPublishedAt: string | null;
  /** Parts that failed in the last run (`"<part>: <error>"`), or a publish failure. */
  readonly lastError: string | null;
  readonly nextDueAt: string | null;
  readonly lastDurationMs: number | null;
}

interface Context {
  readonly services: InventoryServices;
  /** The `configSync` hub's last value: whether the KV config was read once since the agent started. */
  readonly configSync: ConfigSyncState;
  readonly connected: boolean;
  readonly settings: InventorySettings;
  readonly ranOnce: boolean;
  readonly nextDelayMs: number;
  readonly pending: HwInventory | null;
  readonly publishAttempts: number;
  readonly status: InventoryStatus;
}

type Event =
  | BrokerEvent
  | ConfigSyncChanged
  | { readonly type: 'config.inventoryChanged'; readonly settings: InventorySettings }
  | { readonly type: 'inventory.collected'; readonly report: InventoryReport }
  | { readonly type: 'shutdown' };

/** The effect that logs `line` as this child. */
const log = (context: Context, line: LogLine) =>
  logEffect(context.services.log, { ...line, fields: { child: 'inventory', ...line.fields } });

/** The `inventory` child's statechart. */
export const inventoryMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as InventoryServices,
  },
  actors: {
    watchBroker: notProvided<typeof watchBroker>('watchBroker'),
    watchConfigSync: notProvided<typeof watchConfigSync>('watchConfigSync'),
    watchInventorySettings: notProvided<typeof watchInventorySettings>('watchInventorySettings'),
    inventorySession: notProvided<typeof inventorySession>('inventorySession'),
    publishHw: notProvided<typeof publishHw>('publishHw'),
  },
  actions: {
    rememberConnection: assign({ connected: true }),
    forgetConnection: assign({ connected: false }),
    rememberConfigSync: assign({
      configSync: ({ context, event }) => (event.type === 'config.syncChanged' ? event.state : context.configSync),
    }),
    logConfigSyncTimeout: enqueueActions(({ context, enqueue }) => {
      const { enabled, intervalMs, jitterMs } = context.settings;
      enqueue(
        log(context, {
          level: 'warn',
          msg: `KV config not read within ${CONFIG_SYNC_WAIT_MS / 1_000} s of the first connect; the first inventory uses agent.toml [inventory] (KV overrides apply once read)`,
          fields: {
            reason: context.configSync.lastError ?? 'no KV error reported yet (broker away, or the KV walk is still running)',
            enabled,
            interval_ms: intervalMs,
            jitter_ms: jitterMs,
          },
        }),
      );
    }),
    applySettings: assign(({ context, event }) =>
      event.type === 'config.inventoryChanged'
        ? { settings: event.settings, status: { ...context.status, enabled: event.settings.enabled } }
        : {},
    ),
    planNextRun: assign(({ context }) => {
      const { intervalMs, jitterMs } = context.settings;
      // The first run's "small jitter" is also bounded by the configured jitter ("0s" = at once).
      const { now, random } = context.services;
      const delay = context.ranOnce
        ? intervalMs + Math.floor(random() * (jitterMs + 1))
        : Math.floor(random() * (Math.min(FIRST_RUN_JITTER_MS, jitterMs) + 1));
      return { nextDelayMs: delay, status: { ...context.status, nextDueAt: new Date(now() + delay).toISOString() } };
    }),
    clearNextRun: assign(({ context }) => ({ status: { ...context.status, nextDueAt: null } })),
    requestCollection: sendTo('inventorySession', { type: 'collect' }),
    recordReport: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'inventory.collected') return;
      const { report } = event;
      for (const failure of report.failures) {
        enqueue(
          log(context, {
            level: 'error',
            msg: `inventory part ${failure.part} failed`,
            fields: { part: failure.part, err: failure.error },
          }),
        );
      }
      const lastError = report.failures.length > 0 ? report.failures.map((f) => `${f.part}: ${f.error}`).join('; ') : null;
      enqueue.assign({
        ranOnce: true,
        pending: report.hw ?? null,
        publishAttempts: 0,
        status: {
          ...context.status,
          runs: context.status.runs + 1,
          lastRunAt: report.collected_at,
          lastDurationMs: report.durationMs,
          lastError,
        },
      });
    }),
    recordCollectTimeout: enqueueActions(({ context, enqueue }) => {
      enqueue(
        log(context, {
          level: 'error',
          msg: 'inventory collection did not finish; skipping this cycle',
          fields: { timeout_ms: COLLECT_TIMEOUT_MS },
        }),
      );
      enqueue.assign({
        ranOnce: true,
        status: { ...context.status, lastError: `collection did not finish within ${COLLECT_TIMEOUT_MS / 60_000} min` },
      });
    }),
    recordPublished: enqueueActions(({ context, enqueue }, output: PublishHwOutput) => {
      const subject = `inventory.${context.services.config.pcId}.hw`;
      if (output.refused) {
        // Contract §3: the backend's role may not grant inventory.*.*; a refusal is only logged.
        enqueue(
          log(context, {
            level: 'warn',
            msg: 'hardware inventory refused by the broker (publish permission); not retried until the next cycle',
            fields: { subject },
          }),
        );
        enqueue.assign({
          pending: null,
          publishAttempts: 0,
          status: { ...context.status, lastError: `publish: refused by the broker's permissions on ${subject}` },
        });
        return;
      }
      enqueue(log(context, { level: 'info', msg: 'hardware inventory published', fields: { subject, bytes: output.bytes } }));
      // Part failures of this run stay visible; only a publish error is cleared.
      const lastError = context.status.lastError?.startsWith('publish: ') ? null : context.status.lastError;
      enqueue.assign({
        pending: null,
        publishAttempts: 0,
        status: { ...context.status, lastPublishedAt: new Date(context.services.now()).toISOString(), lastError },
      });
    }),
    recordPublishFailure: enqueueActions(({ context, enqueue }, error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      enqueue(
        log(context, {
          level: 'warn',
          msg: 'hardware inventory publish failed; retrying',
          fields: { attempt: context.publishAttempts + 1, err: message },
        }),
      );
      enqueue.assign({ publishAttempts: context.publishAttempts + 1, status: { ...context.status, lastError: `publish: ${message}` } });
    }),
  },
  guards: {
    isEnabled: ({ context }) => context.settings.enabled,
    isDisabledNow: ({ event }) => event.type === 'config.inventoryChanged' && !event.settings.enabled,
    isEnabledNow: ({ event }) => event.type === 'config.inventoryChanged' && event.settings.enabled,
    hasHw: ({ event }) => event.type === 'inventory.collected' && event.report.hw !== undefined,
    isConnected: ({ context }) => context.connected,
    isConfigSynced: ({ context }) => context.configSync.synced,
  },
  delays: {
    nextRun: ({ context }) => timerDelayMs(context.nextDelayMs),
    collectTimeout: COLLECT_TIMEOUT_MS,
    configSyncWait: CONFIG_SYNC_WAIT_MS,
    publishRetry: ({ context }) => resourceRetryDelayMs(context.publishAttempts - 1, context.services.random),
  },
}).createMachine({
  id: 'inventory',
  context: ({ input }) => {
    const settings = inventorySettings(input.config.inventory, input.effectiveConfig.current());
    return {
      services: input,
      configSync: input.configSync.current(),
      connected: false,
      settings,
      ranOnce: false,
      nextDelayMs: 0,
      pending: null,
      publishAttempts: 0,
      status: {
        enabled: settings.enabled,
        runs: 0,
        lastRunAt: null,
        lastPublishedAt: null,
        lastError: null,
        nextDueAt: null,
        lastDurationMs: null,
      },
    };
  },
  initial: 'running',
  on: { shutdown: { target: '.stopped' } },
  states: {
    running: {
      invoke: [
        { id: 'watchBroker', src: 'watchBroker', input: ({ context }) => context.services.broker },
        { id: 'watchConfigSync', src: 'watchConfigSync', input: ({ context }) => context.services.configSync },
        { id: 'watchInventorySettings', src: 'watchInventorySettings', input: ({ context }) => context.services },
        { id: 'inventorySession', src: 'inventorySession', input: ({ context }) => context.services },
      ],
      on: {
        'broker.connected': { actions: 'rememberConnection' },
        'broker.disconnected': { actions: 'forgetConnection' },
        'config.inventoryChanged': { actions: 'applySettings' },
        'config.syncChanged': { actions: 'rememberConfigSync' },
      },
      initial: 'awaitingFirstConnect',
      states: {
        awaitingFirstConnect: {
          description: 'The first inventory runs soon after the first connect.',
          tags: ['degraded'],
          always: { guard: 'isConnected', target: 'awaitingConfig' },
        },
        awaitingConfig: {
          description:
            'The first run is decided only once the KV config was read (KV inventory_enabled=false must not miss it), or after CONFIG_SYNC_WAIT_MS without it (logged once with the reason).',
          tags: ['busy'],
          always: { guard: 'isConfigSynced', target: 'idle' },
          after: { configSyncWait: { target: 'idle', actions: 'logConfigSyncTimeout' } },
        },
        idle: {
          description: 'Decides the next step from the current settings (also after each run, so a KV disable during a run holds).',
          always: [{ guard: 'isEnabled', target: 'scheduled' }, { target: 'disabled' }],
        },
        disabled: {
          description: 'inventory_enabled / [inventory] enabled is false.',
          tags: ['healthy'],
          on: { 'config.inventoryChanged': { guard: 'isEnabledNow', target: 'scheduled', actions: 'applySettings' } },
        },
        scheduled: {
          description: 'Waiting for the next run: first within min(30 s, jitter) of the first connect, then interval + 0..jitter.',
          tags: ['healthy'],
          entry: 'planNextRun',
          exit: 'clearNextRun',
          after: { nextRun: 'collecting' },
          on: {
            'config.inventoryChanged': [
              { guard: 'isDisabledNow', target: 'disabled', actions: 'applySettings' },
              // New interval/jitter: plan again from now with them (a KV change applies at once).
              { target: 'scheduled', reenter: true, actions: 'applySettings' },
            ],
          },
        },
        collecting: {
          description: 'The collector runs (PowerShell session on Windows, systeminformation elsewhere).',
          tags: ['busy'],
          entry: 'requestCollection',
          // A report arriving after the timeout finds the machine elsewhere and is dropped.
          after: { collectTimeout: { target: 'idle', actions: 'recordCollectTimeout' } },
          on: {
            'inventory.collected': [
              { guard: 'hasHw', target: 'readyToPublish', actions: 'recordReport' },
              { target: 'idle', actions: 'recordReport' },
            ],
          },
        },
        readyToPublish: {
          always: [{ guard: 'isConnected', target: 'publishing' }, { target: 'awaitingBroker' }],
        },
        publishing: {
          tags: ['busy'],
          invoke: {
            id: 'publishHw',
            src: 'publishHw',
            input: ({ context }) => ({ broker: context.services.broker, hw: context.pending as HwInventory }),
            onDone: {
              target: 'idle',
              actions: { type: 'recordPublished', params: ({ event }: { event: { output: PublishHwOutput } }) => event.output },
            },
            onError: {
              target: 'retrying',
              actions: { type: 'recordPublishFailure', params: ({ event }: { event: { error: unknown } }) => event.error },
            },
          },
        },
        retrying: {
          description: 'The publish was not confirmed: keep the inventory and retry with the §4 backoff; a reconnect retries at once.',
          tags: ['degraded'],
          after: { publishRetry: 'readyToPublish' },
          on: { 'broker.connected': { target: 'publishing', actions: 'rememberConnection' } },
        },
        awaitingBroker: {
          description: 'Collected while disconnected: publish on the next connect.',
          tags: ['degraded'],
          on: { 'broker.connected': { target: 'publishing', actions: 'rememberConnection' } },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
