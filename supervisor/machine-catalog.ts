/**
 * Every machine definition of the agent, by name: the source of `kanade-agent charts`, of the
 * charts in docs/charts/ and of the inspector's charts before an actor of that machine runs.
 * Add a line when a machine is added to machines/.
 */
import type { AnyStateMachine } from 'xstate';
import { connectionMachine } from '../machines/connection-machine.js';
import { effectiveConfigMachine } from '../machines/effective-config-machine.js';
import { heartbeatMachine } from '../machines/heartbeat-machine.js';
import { rootMachine } from './root-machine.js';

/** Machine name (kebab-case, the chart's file name) → machine definition. */
export const MACHINE_CATALOG: Readonly<Record<string, AnyStateMachine>> = {
  supervisor: rootMachine,
  connection: connectionMachine,
  'effective-config': effectiveConfigMachine,
  heartbeat: heartbeatMachine,
};
