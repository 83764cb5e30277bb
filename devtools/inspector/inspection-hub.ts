/**
 * The receiving end of xstate's inspection API: `createActor(root, { inspect: hub.inspect })`.
 * It keeps the live actor tree (references only; views are built when a browser asks), the last
 * few ended actors and a bounded log of events. The callback runs inside the agent's event loop
 * turn, so it does little: no I/O, no unbounded growth, nothing that can throw into xstate.
 */
import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';
import { activeNodeIds, extractMachineGraph, type MachineGraph } from './machine-graph.js';
import { redactPayload, type RedactOptions } from './redact.js';
import { RingBuffer } from './ring-buffer.js';

/** Inspection events kept for the page's event log. */
export const DEFAULT_EVENT_LOG_SIZE = 500;
/** Ended actors kept so that short-lived ones (a command run) can still be looked at. */
export const DEFAULT_ENDED_ACTORS = 50;
/** Live actors tracked at most; beyond that new actors are counted, not tracked. */
export const MAX_LIVE_ACTORS = 2_000;
/** Distinct machine definitions charted at most (a machine built per call must not grow the map). */
export const MAX_CHARTS = 200;

/** What the supervisor says about one child (from the root's `context.records`). */
export interface SupervisionView {
  readonly phase: string;
  readonly restarts: number;
  readonly nextRestartInMs: number | null;
  readonly lastExit: unknown;
}

/** One actor as the page shows it (plain JSON). */
export interface ActorView {
  readonly sessionId: string;
  readonly id: string;
  readonly systemId: string | undefined;
  readonly parent: string | undefined;
  /** Chart key of its machine (`/chart/<key>.svg`), or undefined for promise/callback actors. */
  readonly chart: string | undefined;
  readonly kind: 'machine' | 'other';
  readonly status: string;
  readonly value: unknown;
  /** Active state node ids (for highlighting). */
  readonly active: readonly string[];
  readonly tags: readonly string[];
  /** Redacted `context.status`. */
  readonly summary: unknown;
  /** Supervisor records of its children when it is the supervisor (redacted). */
  readonly supervision: Readonly<Record<string, SupervisionView>> | undefined;
  readonly startedAt: number;
  readonly endedAt: number | undefined;
}

/** One line of the event log. */
export interface LogEntry {
  readonly seq: number;
  readonly at: number;
  readonly actor: string;
  readonly actorId: string;
  readonly kind: 'event' | 'state' | 'started' | 'ended';
  /** Event type, new state, or end status. */
  readonly type: string;
  readonly source: string | undefined;
  readonly payload: unknown;
}

/** Options of {@link createInspectionHub}. */
export interface InspectionHubOptions {
  readonly eventLogSize?: number;
  readonly endedActors?: number;
  readonly redact?: RedactOptions;
  /** Clock (epoch ms). */
  readonly now?: () => number;
}

interface Tracked {
  readonly ref: AnyActorRef;
  readonly startedAt: number;
  lastValueJson: string | undefined;
  endedAt: number | undefined;
}

/** The hub; {@link InspectionHub.inspect} is the observer passed to `createActor`. */
export interface InspectionHub {
  readonly inspect: (event: InspectionEvent) => void;
  /** Live actors in start order. */
  actors(): ActorView[];
  /** Recently ended actors, oldest first. */
  ended(): ActorView[];
  /** The event log, oldest first; `afterSeq` returns only newer entries. */
  events(afterSeq?: number): LogEntry[];
  /** The machine of a chart key. */
  machine(chart: string): AnyStateMachine | undefined;
  /** Chart keys of every machine seen (plus any registered). */
  charts(): string[];
  /** Registers a machine definition (the catalog), so its chart exists before an actor runs it. */
  registerMachine(machine: AnyStateMachine): string;
  /** The agent's pc_id, read from the supervisor's context (`services.config.pcId`) when it has one. */
  title(): string | undefined;
  /** Called after anything changed (at most once per change burst is up to the listener). */
  onChange(listener: () => void): () => void;
  /** Counters: actors not tracked because of MAX_LIVE_ACTORS, log entries overwritten. */
  stats(): { untrackedActors: number; eventsOverwritten: number; lastSeq: number };
}

/**
 * Creates an inspection hub.
 *
 * @example
 * const hub = createInspectionHub();
 * const root = createActor(rootMachine, { input, inspect: hub.inspect });
 */
export function createInspectionHub(options: InspectionHubOptions = {}): InspectionHub {
  const now = options.now ?? Date.now;
  const log = new RingBuffer<LogEntry>(options.eventLogSize ?? DEFAULT_EVENT_LOG_SIZE);
  const ended = new RingBuffer<ActorView>(options.endedActors ?? DEFAULT_ENDED_ACTORS);
  const live = new Map<string, Tracked>();
  const chartKeys = new WeakMap<object, string>();
  const machines = new Map<string, AnyStateMachine>();
  const graphs = new Map<string, MachineGraph>();
  const listeners = new Set<() => void>();
  let seq = 0;
  let untracked = 0;

  const chartKeyOf = (logic: unknown): string | undefined => {
    if (!isMachine(logic)) return undefined;
    const config = (logic as { config: object }).config;
    const known = chartKeys.get(config);
    if (known !== undefined) return known;
    if (machines.size >= MAX_CHARTS) return undefined;
    const base = logic.id.replace(/[^A-Za-z0-9._-]/g, '_') || 'machine';
    let key = base;
    for (let n = 2; machines.has(key); n += 1) key = `${base}-${n}`;
    chartKeys.set(config, key);
    machines.set(key, logic);
    return key;
  };

  const graphOf = (key: string): MachineGraph | undefined => {
    let graph = graphs.get(key);
    if (!graph) {
      const machine = machines.get(key);
      if (!machine) return undefined;
      graph = extractMachineGraph(machine);
      graphs.set(key, graph);
    }
    return graph;
  };

  const record = (entry: Omit<LogEntry, 'seq' | 'at'>): void => {
    seq += 1;
    log.push({ seq, at: now(), ...entry });
  };

  const changed = (): void => {
    for (const listener of listeners) listener();
  };

  const view = (tracked: Tracked): ActorView => {
    const ref = tracked.ref;
    const snap = ref.getSnapshot() as { status?: string; value?: unknown; tags?: Set<string>; context?: unknown } | undefined;
    const chart = chartKeyOf(logicOf(ref));
    const graph = chart === undefined ? undefined : graphOf(chart);
    const context = (snap?.context ?? undefined) as { status?: unknown; records?: unknown } | undefined;
    return {
      sessionId: ref.sessionId,
      id: ref.id,
      systemId: (ref as { systemId?: string }).systemId,
      parent: parentOf(ref),
      chart,
      kind: chart === undefined ? 'other' : 'machine',
      status: snap?.status ?? 'unknown',
      value: graph ? snap?.value : undefined,
      active: graph && snap ? activeNodeIds(graph, snap.value) : [],
      tags: snap?.tags instanceof Set ? [...snap.tags].sort() : [],
      summary: context && typeof context === 'object' && 'status' in context ? redactPayload(context.status, options.redact) : undefined,
      supervision: supervisionOf(context?.records, now()),
      startedAt: tracked.startedAt,
      endedAt: tracked.endedAt,
    };
  };

  const inspect = (event: InspectionEvent): void => {
    try {
      const ref = event.actorRef as AnyActorRef;
      switch (event.type) {
        case '@xstate.actor': {
          if (live.size >= MAX_LIVE_ACTORS) {
            untracked += 1;
            return;
          }
          live.set(ref.sessionId, { ref, startedAt: now(), lastValueJson: undefined, endedAt: undefined });
          if (chartKeyOf(logicOf(ref)) === undefined) return;
          record({ actor: ref.sessionId, actorId: ref.id, kind: 'started', type: kindOf(ref), source: parentOf(ref), payload: undefined });
          changed();
          return;
        }
        case '@xstate.event': {
          if (!live.has(ref.sessionId) || !isMachine(logicOf(ref))) return;
          record({
            actor: ref.sessionId,
            actorId: ref.id,
            kind: 'event',
            type: String(event.event.type),
            source: event.sourceRef?.sessionId,
            payload: redactPayload(event.event, options.redact),
          });
          changed();
          return;
        }
        case '@xstate.snapshot': {
          const tracked = live.get(ref.sessionId);
          if (!tracked) return;
          const snap = event.snapshot as { status?: string; value?: unknown };
          if (isMachine(logicOf(ref))) {
            const json = safeJson(snap.value);
            if (json !== tracked.lastValueJson) {
              tracked.lastValueJson = json;
              record({ actor: ref.sessionId, actorId: ref.id, kind: 'state', type: json ?? '?', source: undefined, payload: undefined });
            }
          }
          if (snap.status !== undefined && snap.status !== 'active') {
            tracked.endedAt = now();
            live.delete(ref.sessionId);
            // Promise and callback actors come and go by the hundred (drain passes, watches): only
            // machines are kept among the ended and logged, so a finished command run stays visible.
            if (isMachine(logicOf(ref))) {
              ended.push(view(tracked));
              record({ actor: ref.sessionId, actorId: ref.id, kind: 'ended', type: snap.status, source: undefined, payload: undefined });
            }
          }
          changed();
          return;
        }
        default:
          return;
      }
    } catch {
      // Inspection must never disturb the agent: a view that cannot be built is simply not shown.
    }
  };

  return {
    inspect,
    actors: () => [...live.values()].map(view),
    ended: () => ended.toArray(),
    events: (afterSeq = 0) => log.toArray().filter((e) => e.seq > afterSeq),
    machine: (chart) => machines.get(chart),
    title() {
      for (const tracked of live.values()) {
        if (parentOf(tracked.ref) !== undefined) continue;
        const context = (tracked.ref.getSnapshot() as { context?: { services?: { config?: { pcId?: unknown } } } }).context;
        const pcId = context?.services?.config?.pcId;
        return typeof pcId === 'string' ? pcId : undefined;
      }
      return undefined;
    },
    charts: () => [...machines.keys()],
    registerMachine: (machine) => chartKeyOf(machine) as string,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stats: () => ({ untrackedActors: untracked, eventsOverwritten: log.overwritten, lastSeq: seq }),
  };
}

function isMachine(logic: unknown): logic is AnyStateMachine {
  return (
    typeof logic === 'object' &&
    logic !== null &&
    'root' in logic &&
    'config' in logic &&
    typeof (logic as { id?: unknown }).id === 'string'
  );
}

function logicOf(ref: AnyActorRef): unknown {
  return (ref as { logic?: unknown }).logic;
}

function parentOf(ref: AnyActorRef): string | undefined {
  return (ref as { _parent?: AnyActorRef })._parent?.sessionId;
}

function kindOf(ref: AnyActorRef): string {
  const logic = logicOf(ref);
  return isMachine(logic) ? `machine ${logic.id}` : 'actor';
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** Reads the supervisor's `context.records` (see supervisor/root-machine.ts) when present. */
function supervisionOf(records: unknown, now: number): Record<string, SupervisionView> | undefined {
  if (records === null || typeof records !== 'object') return undefined;
  const out: Record<string, SupervisionView> = {};
  for (const [id, raw] of Object.entries(records as Record<string, unknown>)) {
    const r = raw as { phase?: unknown; restarts?: unknown; nextRestartAt?: unknown; lastExit?: unknown } | null;
    if (!r || typeof r.phase !== 'string') continue;
    out[id] = {
      phase: r.phase,
      restarts: typeof r.restarts === 'number' ? r.restarts : 0,
      nextRestartInMs: typeof r.nextRestartAt === 'number' ? Math.max(0, r.nextRestartAt - now) : null,
      lastExit: redactPayload(r.lastExit ?? null),
    };
  }
  return out;
}
