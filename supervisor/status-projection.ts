/**
 * The status report: a plain-JSON projection of the root supervisor's snapshot, the live snapshot
 * of every child and the broker hub. `kanade-agent status --json` prints exactly this shape
 * (docs/status.md, `schema` {@link STATUS_SCHEMA}): snake_case keys, integer milliseconds, RFC 3339
 * UTC times; fields are only ever added within a schema.
 *
 * @example
 * const report = projectStatus({ root: rootActor.getSnapshot(), services, startedAt, now: Date.now(), pid: process.pid });
 */
import type { AnyActorRef, SnapshotFrom, StateValue } from 'xstate';
import type { LogSinkStats } from '../actors/daily-log-file.js';
import { keyringIfLoaded } from '../actors/exec/keyring.js';
import type { AgentServices } from '../actors/ports.js';
import type { ChildPhase, RootMachine, StopCause } from './root-machine.js';
import { restartsInWindow } from './rules.js';
import { toStatusShape } from './status-shape.js';

/** Version of the report's shape; bumped only when a field is renamed, removed or retyped. */
export const STATUS_SCHEMA = 1;

/** Overall health; `status` maps it to its exit code (0, 1, 3). */
export type Health = 'healthy' | 'degraded' | 'gave_up';

/** One row of the report per child, in start order. */
export interface ChildStatus {
  readonly id: string;
  /** Supervisor's view: running, backoff (waiting to restart), stopping, stopped. */
  readonly phase: ChildPhase;
  /** The child's state value (JSON), or null while it is not running. */
  readonly state: StateValue | null;
  readonly tags: readonly string[];
  /** The child's own `context.status` summary in the report's style ({@link toStatusShape}), or null. */
  readonly status: unknown;
  readonly restarts: number;
  readonly last_exit: { readonly reason: string; readonly at: string; readonly error: string | null } | null;
  readonly next_restart_in_ms: number | null;
  readonly uptime_ms: number | null;
}

/** The whole report; see docs/status.md. */
export interface StatusReport {
  readonly schema: typeof STATUS_SCHEMA;
  readonly pc_id: string;
  readonly agent_version: string;
  readonly pid: number;
  readonly started_at: string;
  readonly uptime_ms: number;
  readonly health: Health;
  readonly supervisor: {
    readonly state: string;
    readonly strategy: string;
    readonly intensity: number;
    readonly period_ms: number;
    readonly restarts_in_window: number;
    readonly stop_cause: StopCause | null;
  };
  readonly children: readonly ChildStatus[];
  /** Command signing (§6.2): what is required and whether the ring can satisfy it. */
  readonly signing?: {
    readonly required: boolean;
    readonly require_envelope: boolean;
    readonly enforcing: boolean;
    readonly keys: number;
    /** Why every command is refused (fail closed), or null. */
    readonly problem: string | null;
  };
  readonly connection: {
    readonly connected: boolean;
    readonly server: string | null;
    readonly connected_since: string | null;
    readonly rtt_ms: number | null;
    /** Why the last connect failed or the link dropped, and when (from the connection child). */
    readonly last_error: string | null;
    readonly last_error_at: string | null;
  };
  /** `context.status` of each `outbox-<name>` child, keyed by `<name>`. */
  readonly outbox: Readonly<Record<string, unknown>>;
  /** The log destination's health (dropped lines while it could not be written). */
  readonly log: LogSinkStats | null;
}

/** Inputs of {@link projectStatus}. */
export interface ProjectStatusInput {
  readonly root: SnapshotFrom<RootMachine>;
  readonly services: AgentServices;
  /** Epoch ms of process start. */
  readonly startedAt: number;
  readonly now: number;
  readonly pid: number;
  readonly log?: LogSinkStats | null;
}

const OUTBOX_PREFIX = 'outbox-';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The live snapshot of every running child, keyed by id (used by status and the inspector). */
export function childSnapshots(root: SnapshotFrom<RootMachine>): Record<string, ReturnType<AnyActorRef['getSnapshot']>> {
  const out: Record<string, ReturnType<AnyActorRef['getSnapshot']>> = {};
  for (const [id, ref] of Object.entries(root.children as Record<string, AnyActorRef | undefined>)) {
    if (ref !== undefined) out[id] = ref.getSnapshot();
  }
  return out;
}

function childStatus(
  root: SnapshotFrom<RootMachine>,
  id: string,
  now: number,
  live: Record<string, ReturnType<AnyActorRef['getSnapshot']>>,
): ChildStatus {
  const record = root.context.records[id]!;
  const snap = record.phase === 'running' || record.phase === 'stopping' ? live[id] : undefined;
  const active = snap !== undefined && snap.status === 'active';
  const tags: string[] = active && snap.tags instanceof Set ? [...(snap.tags as Set<string>)].sort() : [];
  return {
    id,
    phase: record.phase,
    state: active ? (snap.value as StateValue) : null,
    tags,
    status: active ? toStatusShape((snap.context as { status?: unknown } | undefined)?.status ?? null) : null,
    restarts: record.restarts,
    last_exit:
      record.lastExit === null ? null : { reason: record.lastExit.reason, at: iso(record.lastExit.at), error: record.lastExit.error },
    next_restart_in_ms: record.nextRestartAt === null ? null : Math.max(0, Math.round(record.nextRestartAt - now)),
    uptime_ms: record.startedAt === null ? null : Math.round(now - record.startedAt),
  };
}

/** Builds the report; health is degraded when any child is in backoff or tagged degraded, or the broker is away. */
export function projectStatus(input: ProjectStatusInput): StatusReport {
  const { root, services, now } = input;
  const { context } = root;
  const live = childSnapshots(root);
  const children = context.specs.map((spec) => childStatus(root, spec.id, now, live));
  const broker = services.broker.state();
  const connectionStatus = children.find((c) => c.id === 'connection')?.status as
    { rtt_ms?: number | null; last_error?: string | null; last_error_at?: string | null } | null | undefined;
  const outbox: Record<string, unknown> = {};
  for (const child of children) {
    if (child.id.startsWith(OUTBOX_PREFIX)) outbox[child.id.slice(OUTBOX_PREFIX.length)] = child.status;
  }
  const gaveUp = context.stopCause?.kind === 'gave_up';
  const ring = keyringIfLoaded(services.config);
  // Test services may carry a partial config; a missing section reads as nothing requested.
  const security: Partial<AgentServices['config']['security']> = services.config.security ?? {};
  const signing = {
    required: security.requireSignedCommands ?? false,
    require_envelope: security.requireEnvelope ?? false,
    enforcing: ring?.enforcing() ?? security.requireSignedCommands ?? false,
    keys: ring?.size() ?? 0,
    problem: ring?.problem() ?? null,
  };
  const degraded =
    !broker.connected ||
    signing.problem !== null ||
    input.log?.writable === false ||
    children.some((c) => c.phase === 'backoff' || c.tags.includes('degraded'));
  return {
    schema: STATUS_SCHEMA,
    pc_id: services.config.pcId,
    agent_version: services.agentVersion,
    pid: input.pid,
    started_at: iso(input.startedAt),
    uptime_ms: Math.round(now - input.startedAt),
    health: gaveUp ? 'gave_up' : degraded ? 'degraded' : 'healthy',
    supervisor: {
      state: typeof root.value === 'string' ? root.value : JSON.stringify(root.value),
      strategy: context.flags.strategy,
      intensity: context.flags.intensity,
      period_ms: context.flags.periodMs,
      restarts_in_window: restartsInWindow(context.restartTimes, now, context.flags.periodMs),
      stop_cause: context.stopCause,
    },
    children,
    signing,
    connection: {
      connected: broker.connected,
      server: broker.connected ? broker.server : null,
      connected_since: broker.connected ? iso(broker.since) : null,
      rtt_ms: typeof connectionStatus?.rtt_ms === 'number' ? Math.round(connectionStatus.rtt_ms) : null,
      last_error: connectionStatus?.last_error ?? null,
      last_error_at: connectionStatus?.last_error_at ?? null,
    },
    outbox,
    log: input.log ?? null,
  };
}
