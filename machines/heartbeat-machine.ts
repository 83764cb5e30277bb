/**
 * The `heartbeat` child (contract §5.4, §5.8): announces `agent_online` through the obs outbox once
 * per agent start, publishes a Heartbeat on `heartbeat.<pc_id>` on every connect and then every
 * effective `heartbeat_interval`, and answers `agents.<pc_id>.ping`. While the broker is away it
 * does nothing: no heartbeat is queued (a stale heartbeat is worse than none).
 *
 * An interval change applies from the next tick; a shorter interval restarts the pending wait so
 * that "the next tick" is not the old, longer one.
 *
 * @example
 * const actor = createActor(heartbeatMachine, { input: services }).start();
 * actor.send({ type: 'shutdown' });
 */
import { assign, enqueueActions, setup } from 'xstate';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, timerDelayMs } from '../contract/index.js';
import type { AgentServices } from '../actors/ports.js';
import type { watchBroker } from '../actors/kv-config/watch-broker.js';
import type { BrokerEvent } from '../domain/broker-event.js';
import { resourceRetryDelayMs } from '../domain/resource-backoff.js';
import type { announceOnline } from '../actors/heartbeat/announce-online.js';
import type { PublishHeartbeatOutput, publishHeartbeat } from '../actors/heartbeat/publish-heartbeat.js';
import type { servePing } from '../actors/heartbeat/serve-ping.js';
import type { watchHeartbeatInterval } from '../actors/heartbeat/watch-heartbeat-interval.js';
import type { PerfCounters } from '../actors/heartbeat/perf-sample.js';
import { notProvided } from './not-provided.js';
import { logEffect, type LogLine } from './log-line.js';

/** The `status` summary of the `heartbeat` child. */
export interface HeartbeatStatus {
  readonly beats: number;
  readonly lastBeatAt: string | null;
  readonly lastError: string | null;
  readonly intervalMs: number;
  /** When the next periodic beat is due (null while offline or publishing). */
  readonly nextDueAt: string | null;
  readonly pingsAnswered: number;
  readonly online: 'pending' | 'enqueued' | 'retrying';
}

interface Context {
  readonly services: AgentServices;
  readonly intervalMs: number;
  readonly previous: PerfCounters | null;
  readonly announceAttempts: number;
  readonly status: HeartbeatStatus;
}

type Event =
  | BrokerEvent
  | { readonly type: 'config.intervalChanged'; readonly intervalMs: number }
  | { readonly type: 'ping.answered' }
  | { readonly type: 'shutdown' };

/** The effect that logs `line` as this child. */
const log = (context: Context, line: LogLine) =>
  logEffect(context.services.log, { ...line, fields: { child: 'heartbeat', ...line.fields } });

/** The `heartbeat` child's statechart. */
export const heartbeatMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as AgentServices,
  },
  actors: {
    watchBroker: notProvided<typeof watchBroker>('watchBroker'),
    watchHeartbeatInterval: notProvided<typeof watchHeartbeatInterval>('watchHeartbeatInterval'),
    announceOnline: notProvided<typeof announceOnline>('announceOnline'),
    publishHeartbeat: notProvided<typeof publishHeartbeat>('publishHeartbeat'),
    servePing: notProvided<typeof servePing>('servePing'),
  },
  actions: {
    setInterval: assign(({ context, event }) =>
      event.type === 'config.intervalChanged'
        ? { intervalMs: event.intervalMs, status: { ...context.status, intervalMs: event.intervalMs } }
        : {},
    ),
    countPing: assign(({ context }) => ({ status: { ...context.status, pingsAnswered: context.status.pingsAnswered + 1 } })),
    recordTick: enqueueActions(({ context, enqueue }, output: PublishHeartbeatOutput) => {
      if (!output.ok) {
        enqueue.assign({ previous: output.sample, status: { ...context.status, lastError: output.error } });
        enqueue(log(context, { level: 'warn', msg: 'heartbeat publish failed; the next tick tries again', fields: { err: output.error } }));
        return;
      }
      enqueue.assign({
        previous: output.sample,
        status: { ...context.status, beats: context.status.beats + 1, lastBeatAt: output.at, lastError: null },
      });
    }),
    markNextDue: assign(({ context }) => ({
      status: { ...context.status, nextDueAt: new Date(context.services.now() + context.intervalMs).toISOString() },
    })),
    clearNextDue: assign(({ context }) => ({ status: { ...context.status, nextDueAt: null } })),
    markOnline: assign(({ context }) => ({ status: { ...context.status, online: 'enqueued' as const } })),
    recordAnnounceFailure: enqueueActions(({ context, enqueue }, error: unknown) => {
      enqueue.assign({ announceAttempts: context.announceAttempts + 1, status: { ...context.status, online: 'retrying' as const } });
      enqueue(log(context, { level: 'error', msg: 'cannot enqueue agent_online; retrying', fields: { err: String(error) } }));
    }),
  },
  guards: {
    isShorterInterval: ({ context, event }) => event.type === 'config.intervalChanged' && event.intervalMs < context.intervalMs,
  },
  delays: {
    heartbeatInterval: ({ context }) => timerDelayMs(context.intervalMs),
    announceRetry: ({ context }) => resourceRetryDelayMs(context.announceAttempts - 1, context.services.random),
  },
}).createMachine({
  id: 'heartbeat',
  context: ({ input }) => ({
    services: input,
    intervalMs: input.effectiveConfig.current().heartbeat_interval_ms ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    previous: null,
    announceAttempts: 0,
    status: {
      beats: 0,
      lastBeatAt: null,
      lastError: null,
      intervalMs: input.effectiveConfig.current().heartbeat_interval_ms,
      nextDueAt: null,
      pingsAnswered: 0,
      online: 'pending',
    },
  }),
  initial: 'running',
  on: { shutdown: { target: '.stopped' } },
  states: {
    running: {
      type: 'parallel',
      invoke: [
        { id: 'watchBroker', src: 'watchBroker', input: ({ context }) => context.services.broker },
        { id: 'watchHeartbeatInterval', src: 'watchHeartbeatInterval', input: ({ context }) => context.services },
      ],
      states: {
        announce: {
          initial: 'enqueuing',
          states: {
            enqueuing: {
              description: 'Writing agent_online to the obs outbox (once per agent start).',
              invoke: {
                id: 'announceOnline',
                src: 'announceOnline',
                input: ({ context }) => context.services,
                onDone: { target: 'done', actions: 'markOnline' },
                onError: {
                  target: 'retrying',
                  actions: { type: 'recordAnnounceFailure', params: ({ event }: { event: { error: unknown } }) => event.error },
                },
              },
            },
            retrying: {
              description: 'The outbox refused the write (disk error): try again with the §4 backoff.',
              after: { announceRetry: 'enqueuing' },
            },
            done: { type: 'final' },
          },
        },
        beat: {
          initial: 'offline',
          on: {
            // `broker.connected` is handled in the child states: a re-entering transition declared on
            // a region of a parallel state exits the whole parallel state (SCXML transition domain)
            // and would announce again.
            'broker.disconnected': { target: '.offline' },
            'ping.answered': { actions: 'countPing' },
          },
          states: {
            offline: {
              description: 'No broker: nothing is published or queued until the next connect.',
              tags: ['degraded'],
              on: {
                'config.intervalChanged': { actions: 'setInterval' },
                'broker.connected': { target: 'online' },
              },
            },
            online: {
              description: 'Connected: beat now, then every heartbeat_interval; answer pings. A new connection starts over with a beat.',
              on: { 'broker.connected': { target: 'online', reenter: true } },
              invoke: {
                id: 'servePing',
                src: 'servePing',
                input: ({ context }) => ({ services: context.services }),
              },
              initial: 'publishing',
              states: {
                publishing: {
                  description: 'One tick: keyring re-read, perf sample, core publish on heartbeat.<pc_id>.',
                  tags: ['busy'],
                  on: { 'config.intervalChanged': { actions: 'setInterval' } },
                  invoke: {
                    id: 'publishHeartbeat',
                    src: 'publishHeartbeat',
                    input: ({ context }) => ({ services: context.services, previous: context.previous }),
                    // No onError: only the `heartbeat.tick` failpoint rejects, and that is meant to crash the child.
                    onDone: { target: 'waiting', actions: { type: 'recordTick', params: ({ event }) => event.output } },
                  },
                },
                waiting: {
                  tags: ['healthy'],
                  entry: 'markNextDue',
                  exit: 'clearNextDue',
                  after: { heartbeatInterval: 'publishing' },
                  on: {
                    'config.intervalChanged': [
                      { guard: 'isShorterInterval', target: 'waiting', reenter: true, actions: 'setInterval' },
                      { actions: 'setInterval' },
                    ],
                  },
                },
              },
            },
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
