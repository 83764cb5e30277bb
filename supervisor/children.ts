/**
 * The supervision tree as data, in one list: every child's id, its logic (the pure machine with
 * its effects provided), its OTP restart type and its shutdown grace. Children start in this order
 * and stop in reverse (docs/architecture.md draws the tree; docs/supervision.md explains the rules).
 *
 * Machines in machines/ only name their effects; the `<noun>Logic` constants below bind each to the
 * actors/ code that does the I/O. Tests take a `<noun>Logic` and `.provide()` fakes over it.
 */
import { connectionMachine } from '../machines/connection-machine.js';
import { effectiveConfigMachine } from '../machines/effective-config-machine.js';
import { createOutboxMachine, type OutboxMachineOptions } from '../machines/outbox-machine.js';
import { bindOutboxMessageEffects } from '../machines/outbox-message-machine.js';
import { heartbeatMachine } from '../machines/heartbeat-machine.js';
import { inventoryMachine } from '../machines/inventory-machine.js';
import { updaterMachine } from '../machines/updater-machine.js';
import { executorMachine } from '../machines/executor-machine.js';
import { commandRunMachine } from '../machines/command-run-machine.js';
import { natsConnection } from '../actors/nats-connection.js';
import {
  createDrainBacklog,
  ensureOutboxDir,
  JETSTREAM_EFFECTS,
  watchOutbox,
  type DrainBacklogEffects,
} from '../actors/outbox/outbox-actors.js';
import { createMessageSlots } from '../actors/outbox/message-slots.js';
import type { OutboxKind } from '../actors/outbox/outbox-kinds.js';
import { watchBroker } from '../actors/kv-config/watch-broker.js';
import { watchKvConfig } from '../actors/kv-config/watch-kv-config.js';
import { watchConfigSync } from '../actors/kv-config/watch-config-sync.js';
import { logicalCpuCount } from '../actors/kv-config/host-cpu.js';
import { announceOnline } from '../actors/heartbeat/announce-online.js';
import { publishHeartbeat } from '../actors/heartbeat/publish-heartbeat.js';
import { servePing } from '../actors/heartbeat/serve-ping.js';
import { watchHeartbeatInterval } from '../actors/heartbeat/watch-heartbeat-interval.js';
import { inventorySession } from '../actors/inventory/inventory-session.js';
import { publishHw } from '../actors/inventory/publish-hw.js';
import { watchInventorySettings } from '../actors/inventory/watch-inventory-settings.js';
import { createRuntime, recoverAdmissions, settleIntake, watchAdmissions } from '../actors/exec/executor-actors.js';
import { runIntake } from '../actors/exec/intake.js';
import { checkRunGates, deliverRunResult, fetchScript, holdSlot, markLaunching, runProcess, watchKill } from '../actors/exec/run-actors.js';
import { UPDATER_EFFECTS, updaterInput } from '../actors/updater/updater-effects.js';
import { configServices, inventoryServices, type RootServices } from '../actors/ports.js';
import type { ChildSpec } from './child-spec.js';

/** Shutdown grace of `connection`: drain plus a margin (the machine itself gives up after 2 s). */
const CONNECTION_SHUTDOWN_MS = 3_000;
/** Shutdown grace of `config`. */
const CONFIG_SHUTDOWN_MS = 1_000;
/**
 * Shutdown grace of `outbox-results`: the whole tree budget (supervisor/root-machine.ts
 * SHUTDOWN_BUDGET_MS); the root clamps it to what is left, so results get the rest of the 10 s.
 */
const OUTBOX_RESULTS_SHUTDOWN_MS = 9_000;
/** Shutdown grace of `outbox-events` and `outbox-obs` (they stop before `outbox-results`). */
const OUTBOX_SHUTDOWN_MS = 3_000;
/** Shutdown grace of `heartbeat`. */
const HEARTBEAT_SHUTDOWN_MS = 1_000;
/** Shutdown grace of `inventory` (PowerShell disposal included). */
const INVENTORY_SHUTDOWN_MS = 5_000;
/** Shutdown grace of `updater`: a download is cancelled (partial file removed) well within it. */
const UPDATER_SHUTDOWN_MS = 2_000;
/** Shutdown grace of `executor`: it queues a `killed: agent shutting down` result per run (§8.4: exit within 10 s). */
const EXECUTOR_SHUTDOWN_MS = 7_000;

/** `connection` with its effect. */
export const connectionLogic = connectionMachine.provide({ actors: { natsConnection } });

/** `config` with its effects; its input adds the host's logical CPU count. */
export const effectiveConfigLogic = effectiveConfigMachine.provide({ actors: { watchBroker, watchKvConfig } });

/**
 * How an outbox drain pass publishes: JetStream with PubAck, each message's life cycle
 * (machines/outbox-message-machine.ts) run in reusable actor slots (actors/outbox/message-slots.ts).
 */
export const OUTBOX_DRAIN_EFFECTS: DrainBacklogEffects = {
  ...JETSTREAM_EFFECTS,
  runnerFactory: createMessageSlots(bindOutboxMessageEffects),
};

/** An `outbox-<kind>` child with its effects (tests and the bench pass `options`). */
export function createOutboxLogic(kind: OutboxKind, options: OutboxMachineOptions = {}) {
  return createOutboxMachine(kind, options).provide({
    actors: { watchOutbox, ensureOutboxDir, drainBacklog: createDrainBacklog(OUTBOX_DRAIN_EFFECTS) },
  });
}

/** `outbox-results` with its effects. */
export const outboxLogic = createOutboxLogic('results');

/** `heartbeat` with its effects. */
export const heartbeatLogic = heartbeatMachine.provide({
  actors: { watchBroker, watchHeartbeatInterval, announceOnline, publishHeartbeat, servePing },
});

/** `inventory` with its effects. */
export const inventoryLogic = inventoryMachine.provide({
  actors: { watchBroker, watchConfigSync, watchInventorySettings, inventorySession, publishHw },
});

/** One `commandRun` (spawned by the executor) with its effects. */
export const commandRunLogic = commandRunMachine.provide({
  actors: { checkRunGates, fetchScript, watchKill, holdSlot, markLaunching, runProcess, deliverRunResult },
});

/** `executor` with its effects and its run machine. */
export const executorLogic = executorMachine.provide({
  actors: { createRuntime, recoverAdmissions, watchBroker, watchAdmissions, runIntake, settleIntake, commandRun: commandRunLogic },
});

/** `updater` with its effects. */
export const updaterLogic = updaterMachine.provide({ actors: UPDATER_EFFECTS });

/**
 * Input of `config`: the services with the write side of the effectiveConfig and groups hubs (it is
 * their one writer; every other child gets read-only views) plus the host's CPU count (read here,
 * so the machine reads nothing itself).
 */
export function configInput(services: RootServices) {
  return { ...configServices(services), logicalCpus: logicalCpuCount() };
}

/** Every child of the root supervisor, in start order. */
export const CHILDREN: readonly ChildSpec[] = [
  { id: 'connection', logic: connectionLogic, restart: 'permanent', shutdownMs: CONNECTION_SHUTDOWN_MS },
  { id: 'config', logic: effectiveConfigLogic, input: configInput, restart: 'permanent', shutdownMs: CONFIG_SHUTDOWN_MS },
  { id: 'outbox-results', logic: outboxLogic, restart: 'permanent', shutdownMs: OUTBOX_RESULTS_SHUTDOWN_MS },
  { id: 'outbox-events', logic: createOutboxLogic('events'), restart: 'permanent', shutdownMs: OUTBOX_SHUTDOWN_MS },
  { id: 'outbox-obs', logic: createOutboxLogic('obs'), restart: 'permanent', shutdownMs: OUTBOX_SHUTDOWN_MS },
  { id: 'heartbeat', logic: heartbeatLogic, restart: 'permanent', shutdownMs: HEARTBEAT_SHUTDOWN_MS },
  { id: 'inventory', logic: inventoryLogic, input: inventoryServices, restart: 'permanent', shutdownMs: INVENTORY_SHUTDOWN_MS },
  { id: 'updater', logic: updaterLogic, input: updaterInput, restart: 'transient', shutdownMs: UPDATER_SHUTDOWN_MS },
  // Keep last: starts after everything it uses, stops first (intake off before the outboxes drain).
  { id: 'executor', logic: executorLogic, restart: 'permanent', shutdownMs: EXECUTOR_SHUTDOWN_MS },
];
