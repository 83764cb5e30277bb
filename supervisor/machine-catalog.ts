/**
 * Every machine definition of the agent, by name: the source of `kanade-agent charts`, of the
 * charts in docs/charts/ and of the inspector's charts before an actor of that machine runs.
 * Add a line when a machine is added to machines/.
 */
import type { AnyStateMachine } from 'xstate';
import { commandRunMachine } from '../machines/command-run-machine.js';
import { connectionMachine } from '../machines/connection-machine.js';
import { effectiveConfigMachine } from '../machines/effective-config-machine.js';
import { executorMachine } from '../machines/executor-machine.js';
import { heartbeatMachine } from '../machines/heartbeat-machine.js';
import { inventoryMachine } from '../machines/inventory-machine.js';
import { outboxMachine } from '../machines/outbox-machine.js';
import { outboxMessageMachine } from '../machines/outbox-message-machine.js';
import { updaterMachine } from '../machines/updater-machine.js';
import { rootMachine } from './root-machine.js';

/** Machine name (kebab-case, the chart's file name) → machine definition, in tree order. */
export const MACHINE_CATALOG: Readonly<Record<string, AnyStateMachine>> = {
  supervisor: rootMachine,
  connection: connectionMachine,
  'effective-config': effectiveConfigMachine,
  outbox: outboxMachine,
  'outbox-message': outboxMessageMachine,
  heartbeat: heartbeatMachine,
  inventory: inventoryMachine,
  updater: updaterMachine,
  executor: executorMachine,
  'command-run': commandRunMachine,
};
