/**
 * The `connection` child: connecting → connected ⇄ reconnecting → closed. The `natsConnection`
 * actor does the I/O (nats.js reconnects on its own); this chart mirrors where it is, for tags,
 * status and the inspector, and turns its two fatal reports into crashes of the child:
 * `connection.crashed` (a bug or failpoint: the supervisor restarts the child) and
 * `connection.authGaveUp` (credentials refused for 30 s: an EscalationError, the process exits 1).
 *
 * @example
 * createActor(connectionMachine.provide({ actors: { natsConnection: fake } }), { input: services });
 */
import { assign, sendTo, setup, type EventObject } from 'xstate';
import { EscalationError } from '../actors/escalation-error.js';
import type { NatsConnectionEvent, natsConnection } from '../actors/nats-connection.js';
import type { AgentServices } from '../actors/ports.js';
import { notProvided } from './not-provided.js';

/** Longest wait for `drain()` on shutdown before the child stops anyway (the outboxes already flushed). */
export const CONNECTION_DRAIN_TIMEOUT_MS = 2_000;

/** The `context.status` summary shown by `kanade-agent status`. */
export interface ConnectionStatus {
  readonly server: string | null;
  /** RFC 3339 time of the current connection, or null. */
  readonly connected_since: string | null;
  readonly rtt_ms: number | null;
  /** Times the link came back after a drop. */
  readonly reconnects: number;
  /** RFC 3339 time since when the credentials have been refused, or null. */
  readonly auth_refused_since: string | null;
  /** Why the last connect failed or the link dropped (`connection refused (ECONNREFUSED): …`), or null. */
  readonly last_error: string | null;
  readonly last_error_at: string | null;
}

interface ConnectionContext {
  readonly services: AgentServices;
  readonly status: ConnectionStatus;
}

type ConnectionEvent = NatsConnectionEvent | { type: 'shutdown' };

/** The connection child's machine; see the module comment. */
export const connectionMachine = setup({
  types: {
    input: {} as AgentServices,
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
  },
  actors: { natsConnection: notProvided<typeof natsConnection>('natsConnection') },
  actions: {
    recordConnected: assign(({ context, event }) => {
      if (event.type !== 'connection.connected') return {};
      const reconnects = context.status.connected_since === null && context.status.server === null ? 0 : context.status.reconnects + 1;
      return {
        status: {
          ...context.status,
          server: event.server,
          connected_since: new Date(event.since).toISOString(),
          reconnects,
          auth_refused_since: null,
        },
      };
    }),
    recordDisconnected: assign(({ context }) => ({ status: { ...context.status, connected_since: null, rtt_ms: null } })),
    recordFailure: assign(({ context, event }) =>
      event.type === 'connection.failed'
        ? { status: { ...context.status, last_error: event.error, last_error_at: new Date(event.at).toISOString() } }
        : {},
    ),
    recordRtt: assign(({ context, event }) =>
      event.type === 'connection.rttMeasured' ? { status: { ...context.status, rtt_ms: event.ms } } : {},
    ),
    recordAuthRefused: assign(({ context, event }) =>
      event.type === 'connection.authRefused'
        ? { status: { ...context.status, auth_refused_since: new Date(event.since).toISOString() } }
        : {},
    ),
    /** A bug or failpoint in the actor: becomes this child's crash, which the supervisor restarts. */
    crash: ({ event }) => {
      if (event.type !== 'connection.crashed') return;
      throw event.error instanceof Error ? event.error : new Error(String(event.error));
    },
    /** Contract §2: refused for 30 s ⇒ the client is dead ⇒ the process exits 1. */
    escalate: ({ event }) => {
      throw new EscalationError(event.type === 'connection.authGaveUp' ? event.error : 'authorization refused');
    },
    requestDrain: sendTo('natsConnection', { type: 'drain' } as EventObject),
  },
  delays: {
    drainTimeout: CONNECTION_DRAIN_TIMEOUT_MS,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    services: input,
    status: {
      server: null,
      connected_since: null,
      rtt_ms: null,
      reconnects: 0,
      auth_refused_since: null,
      last_error: null,
      last_error_at: null,
    },
  }),
  initial: 'live',
  states: {
    live: {
      invoke: { id: 'natsConnection', src: 'natsConnection', input: ({ context }) => context.services },
      initial: 'connecting',
      on: {
        'connection.rttMeasured': { actions: 'recordRtt' },
        'connection.failed': { actions: 'recordFailure' },
        'connection.authRefused': { actions: 'recordAuthRefused' },
        'connection.crashed': { actions: 'crash' },
        'connection.authGaveUp': { actions: 'escalate' },
      },
      states: {
        connecting: {
          description: 'First connect: nats.js retries every server forever; the agent runs meanwhile.',
          tags: ['degraded'],
          on: {
            'connection.connected': { target: 'connected', actions: 'recordConnected' },
            shutdown: { target: 'draining' },
          },
        },
        connected: {
          tags: ['healthy'],
          on: {
            'connection.disconnected': { target: 'reconnecting', actions: 'recordDisconnected' },
            'connection.connected': { actions: 'recordConnected' },
            shutdown: { target: 'draining' },
          },
        },
        reconnecting: {
          description: 'The link dropped; nats.js tries the cluster servers with backoff and jitter.',
          tags: ['degraded'],
          on: {
            'connection.connected': { target: 'connected', actions: 'recordConnected' },
            shutdown: { target: 'draining' },
          },
        },
        draining: {
          description: 'Shutdown: drain publishes and subscriptions, then close.',
          tags: ['busy'],
          entry: 'requestDrain',
          on: { 'connection.closed': { target: '#connection.closed' } },
          after: { drainTimeout: { target: '#connection.closed' } },
        },
      },
    },
    closed: { type: 'final' },
  },
});
