/**
 * What the supervisor needs to know about one child, as OTP's child spec: an id, the logic to run,
 * when to restart it and how long it may take to stop.
 *
 * @example
 * export const heartbeatChild: ChildSpec = { id: 'heartbeat', logic: heartbeatMachine, restart: 'permanent', shutdownMs: 1_000 };
 */
import type { AnyStateMachine } from 'xstate';
import type { RootServices } from '../actors/ports.js';

/**
 * OTP restart types: `permanent` always restarts (even after a normal exit), `transient` restarts
 * only after a crash, `temporary` never restarts.
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** One child of the root supervisor. `logic` is an xstate machine taking `input: AgentServices`. */
export interface ChildSpec {
  /** Actor id and system id; also the prefix of the child's failpoints (`<id>.start`). */
  readonly id: string;
  readonly logic: AnyStateMachine;
  readonly restart: RestartType;
  /** Grace after `{type:'shutdown'}` before the child is stopped by force. */
  readonly shutdownMs: number;
  /**
   * The child's input when it is not AgentServices itself: a narrow view of the services plus what
   * the root injects (its clock reading and a random draw in [0, 1)), so the child stays pure.
   */
  readonly input?: (services: RootServices, injected: { readonly now: number; readonly random: number }) => unknown;
}
