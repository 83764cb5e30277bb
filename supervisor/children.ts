/**
 * The supervision tree in one list: children start in this order and stop in reverse.
 * Start order per docs/architecture.md: connection, config, outbox-results, outbox-events,
 * outbox-obs, heartbeat, inventory, updater, executor. Each engineer adds ONE line for their child.
 */
import { connectionMachine } from '../machines/connection-machine.js';
import { OUTBOX_CHILD_SPECS } from '../machines/outbox-machine.js';
import { executorChild } from '../machines/executor-machine.js';
import { configChildSpec } from '../machines/effective-config-machine.js';
import { heartbeatChildSpec } from '../machines/heartbeat-machine.js';
import { inventoryChildSpec } from '../machines/inventory-machine.js';
import { updaterMachine } from '../machines/updater-machine.js';
import { UPDATER_EFFECTS, updaterInput } from '../actors/updater/updater-effects.js';
import type { ChildSpec } from './child-spec.js';

/** Shutdown grace of `connection`: drain plus a margin (the machine itself gives up after 2 s). */
const CONNECTION_SHUTDOWN_MS = 3_000;

/** Shutdown grace of `updater`: a download is cancelled (partial file removed) well within it. */
const UPDATER_SHUTDOWN_MS = 2_000;

/** Every child of the root supervisor, in start order. */
export const CHILDREN: readonly ChildSpec[] = [
  { id: 'connection', logic: connectionMachine, restart: 'permanent', shutdownMs: CONNECTION_SHUTDOWN_MS },
  configChildSpec,
  ...OUTBOX_CHILD_SPECS,
  heartbeatChildSpec,
  inventoryChildSpec,
  { id: 'updater', logic: updaterMachine.provide({ actors: UPDATER_EFFECTS }), input: updaterInput, restart: 'transient', shutdownMs: UPDATER_SHUTDOWN_MS },
  // Keep last: starts after everything it uses, stops first (intake off before the outboxes drain).
  executorChild,
];
