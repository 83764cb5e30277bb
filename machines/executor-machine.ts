/**
 * The `executor` child (§3, §5–§8): recovers the admission ledger, then keeps intake on while the
 * broker is connected and spawns one `commandRun` actor per admitted command. On `shutdown` it
 * stops intake, tells every run to stop (each queues `killed: agent shutting down`) and finishes
 * once all runs have queued their results.
 *
 * @example
 * const executor = createActor(executorMachine, { input: services }).start();
 * executor.send({ type: 'shutdown' });
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { assign, enqueueActions, setup, type ActorRefFrom } from 'xstate';
import type { AgentServices } from '../actors/ports.js';
import type { ExecRuntime, IntakeStats } from '../actors/exec/exec-runtime.js';
import type { createRuntime, recoverAdmissions, settleIntake, watchAdmissions } from '../actors/exec/executor-actors.js';
import type { AdmittedCommand } from '../actors/exec/intake-pipeline.js';
import type { IntakeEvent, runIntake } from '../actors/exec/intake.js';
import type { watchBroker } from '../actors/kv-config/watch-broker.js';
import type { BrokerEvent } from '../domain/broker-event.js';
import { commandRunMachine } from './command-run-machine.js';
import { notProvided } from './not-provided.js';
import { logEffect, type LogLine } from './log-line.js';

/** The `status` summary of the executor. */
export interface ExecutorStatus {
  readonly intake: 'on' | 'off';
  readonly replay: boolean;
  /** request_ids of the runs alive now. */
  readonly running: readonly string[];
  readonly admitted: number;
  readonly finished: number;
  /** The local job budget when the run list last changed: limit, in use, queued. */
  readonly slots: { readonly limit: number; readonly inUse: number; readonly waiting: number } | null;
  /** The queue between delivery and admission (snake_case, status schema 1 style). */
  readonly intake_queue: IntakeStats | null;
  /** Admitted commands not run because `maxQueuedRuns` runs already waited to start (exit -1 `refused: local queue full`). */
  readonly refused_local_queue_full: number;
}

interface Context {
  readonly services: AgentServices;
  readonly runtime: ExecRuntime | undefined;
  readonly nc: NatsConnection | undefined;
  readonly runs: Readonly<Record<string, ActorRefFrom<typeof commandRunMachine>>>;
  readonly pending: readonly AdmittedCommand[];
  /** Every message delivered before shutdown has its admission decision (draining waits for it). */
  readonly intakeSettled: boolean;
  readonly status: ExecutorStatus;
}

type Event =
  | BrokerEvent
  | { type: 'command.admitted'; admitted: AdmittedCommand }
  | IntakeEvent
  | { type: 'intake.statsChanged'; stats: IntakeStats }
  | { type: 'shutdown' }
  | { type: `xstate.done.actor.${string}` }
  | { type: `xstate.error.actor.${string}`; error: unknown };

const runId = (admitted: AdmittedCommand) => `run-${admitted.record.result_id}`;
/** Runs admitted and not yet launched (gate check, script fetch, jitter, slot queue): the runs the queued-run cap counts. */
const queuedRuns = (runs: Context['runs']): number => Object.values(runs).filter((run) => run.getSnapshot().hasTag('queued')).length;

/** Output of `onDone` of an invoked effect, as the params of an action. */
const output = <T>({ event }: { event: { output: T } }): T => event.output;
/** Error of `onError` of an invoked effect, as params. */
const failure = ({ event }: { event: { error: unknown } }): unknown => event.error;

/** The effect that logs `line`. */
const log = (context: Context, line: LogLine) => logEffect(context.services.log, line);

/** The `executor` child's statechart. */
export const executorMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as AgentServices,
  },
  actors: {
    createRuntime: notProvided<typeof createRuntime>('createRuntime'),
    recoverAdmissions: notProvided<typeof recoverAdmissions>('recoverAdmissions'),
    watchBroker: notProvided<typeof watchBroker>('watchBroker'),
    watchAdmissions: notProvided<typeof watchAdmissions>('watchAdmissions'),
    runIntake: notProvided<typeof runIntake>('runIntake'),
    settleIntake: notProvided<typeof settleIntake>('settleIntake'),
    /** The run machine with its effects (supervisor/children.ts provides `commandRunMachine.provide(...)`). */
    commandRun: notProvided<typeof commandRunMachine>('commandRun'),
  },
  guards: {
    drained: ({ context }) => context.intakeSettled && Object.keys(context.runs).length === 0,
  },
  actions: {
    keepRuntime: assign((_, runtime: ExecRuntime) => ({ runtime })),
    spawnRecovered: assign(({ context, spawn }, recovered: AdmittedCommand[]) => {
      const runtime = context.runtime as ExecRuntime;
      const runs = { ...context.runs };
      let waiting = queuedRuns(runs);
      let refused = 0;
      for (const admitted of recovered) {
        const queueFull = waiting >= runtime.maxQueuedRuns;
        if (queueFull) refused += 1;
        else waiting += 1;
        runs[runId(admitted)] = spawn('commandRun', {
          id: runId(admitted),
          input: { runtime, admitted, queueFull, jitterDraw: context.services.random() },
        });
      }
      return {
        runs,
        status: {
          ...context.status,
          admitted: context.status.admitted + recovered.length,
          refused_local_queue_full: context.status.refused_local_queue_full + refused,
          running: Object.values(runs).map((r) => r.getSnapshot().context.command.request_id),
        },
      };
    }),
    spawnRun: assign(({ context, event, spawn }) => {
      if (event.type !== 'command.admitted') return {};
      const id = runId(event.admitted);
      if (context.runs[id] !== undefined) return {};
      const runtime = context.runtime as ExecRuntime;
      const queueFull = queuedRuns(context.runs) >= runtime.maxQueuedRuns;
      const runs = {
        ...context.runs,
        [id]: spawn('commandRun', { id, input: { runtime, admitted: event.admitted, queueFull, jitterDraw: context.services.random() } }),
      };
      return {
        runs,
        status: {
          ...context.status,
          admitted: context.status.admitted + 1,
          refused_local_queue_full: context.status.refused_local_queue_full + (queueFull ? 1 : 0),
          running: [...context.status.running, event.admitted.command.request_id],
          slots: runtime.budget.stats(),
        },
      };
    }),
    forgetRun: enqueueActions(({ context, event, enqueue }) => {
      const id = event.type.replace(/^xstate\.(done|error)\.actor\./, '');
      const run = context.runs[id];
      const error = 'error' in event ? event.error : undefined;
      if (run === undefined) {
        // Not a run: an invoked effect (intake, broker watch) failed. That is a crash the supervisor
        // restarts, never a silently dead intake.
        if (event.type.startsWith('xstate.error')) throw error;
        return;
      }
      const requestId = run.getSnapshot().context.command.request_id;
      if (event.type.startsWith('xstate.error')) {
        enqueue(
          log(context, {
            level: 'error',
            msg: 'a command run crashed; its ledger record is recovered at the next start',
            fields: { run: id, err: String(error) },
          }),
        );
        // A run admitted as `launching` holds a budget slot until its holdSlot takes it over; one that
        // crashed before that would keep it for good (a slot taken over is released by holdSlot's stop).
        const runtime = context.runtime;
        if (runtime !== undefined) enqueue(() => runtime.cancelLaunch(requestId));
      }
      const { [id]: _gone, ...runs } = context.runs;
      enqueue.assign({
        runs,
        status: {
          ...context.status,
          finished: context.status.finished + 1,
          running: context.status.running.filter((r) => r !== requestId),
          slots: context.runtime?.budget.stats() ?? null,
        },
      });
    }),
    rememberConnection: assign({ nc: ({ event }) => (event.type === 'broker.connected' ? event.nc : undefined) }),
    intakeOn: assign({ status: ({ context }) => ({ ...context.status, intake: 'on' as const }) }),
    intakeOff: assign({ status: ({ context }) => ({ ...context.status, intake: 'off' as const, replay: false }) }),
    replayOn: assign({ status: ({ context }) => ({ ...context.status, replay: true }) }),
    stopRuns: ({ context }) => {
      for (const run of Object.values(context.runs)) run.send({ type: 'shutdown' });
    },
    closeRuntime: ({ context }) => context.runtime?.close(),
    noteIntakeSettled: assign({ intakeSettled: true }),
    keepIntakeStats: assign({
      status: ({ context, event }) =>
        event.type === 'intake.statsChanged' ? { ...context.status, intake_queue: event.stats } : context.status,
    }),
    // A failure to open the ledger or recover it is a crash: the supervisor restarts the child.
    crash: (_, error: unknown) => {
      throw error;
    },
  },
}).createMachine({
  id: 'executor',
  context: ({ input }) => ({
    services: input,
    runtime: undefined,
    nc: undefined,
    runs: {},
    pending: [],
    intakeSettled: false,
    status: {
      intake: 'off',
      replay: false,
      running: [],
      admitted: 0,
      finished: 0,
      slots: null,
      intake_queue: null,
      refused_local_queue_full: 0,
    },
  }),
  initial: 'starting',
  on: {
    'xstate.done.actor.*': { actions: 'forgetRun' },
    'xstate.error.actor.*': { actions: 'forgetRun' },
  },
  states: {
    starting: {
      description: 'Loads the keyring and opens the admission ledger; a failure here is a crash the supervisor restarts.',
      invoke: {
        id: 'createRuntime',
        src: 'createRuntime',
        input: ({ context }) => context.services,
        onDone: { target: 'recovering', actions: { type: 'keepRuntime', params: output<ExecRuntime> } },
        onError: { actions: { type: 'crash', params: failure } },
      },
      on: { shutdown: 'stopped' },
    },
    recovering: {
      description: 'Before NATS: pending → re-verify and run, launching → exit 121 once, finished-unqueued → re-queue (§7).',
      invoke: {
        id: 'recoverAdmissions',
        src: 'recoverAdmissions',
        input: ({ context }) => context.runtime as ExecRuntime,
        onDone: { target: 'active', actions: { type: 'spawnRecovered', params: output<AdmittedCommand[]> } },
        onError: { actions: { type: 'crash', params: failure } },
      },
      on: { shutdown: 'draining' },
    },
    active: {
      invoke: [
        { id: 'watchBroker', src: 'watchBroker', input: ({ context }) => context.services.broker },
        { id: 'watchAdmissions', src: 'watchAdmissions', input: ({ context }) => context.runtime as ExecRuntime },
      ],
      on: {
        'command.admitted': { actions: 'spawnRun' },
        'intake.statsChanged': { actions: 'keepIntakeStats' },
        shutdown: 'draining',
      },
      initial: 'offline',
      states: {
        offline: {
          description: 'Broker away: intake is off; admitted runs go on and their results wait in the outbox.',
          tags: ['degraded'],
          on: { 'broker.connected': { target: 'online', actions: 'rememberConnection' } },
        },
        online: {
          description: 'Core subscriptions and the replay consumer feed the admission pipeline.',
          tags: ['healthy'],
          entry: 'intakeOn',
          exit: 'intakeOff',
          invoke: {
            id: 'runIntake',
            src: 'runIntake',
            input: ({ context }) => ({ runtime: context.runtime as ExecRuntime, nc: context.nc as NatsConnection }),
          },
          on: {
            'broker.disconnected': 'offline',
            'broker.connected': { target: 'online', reenter: true, actions: 'rememberConnection' },
            'intake.replayStarted': { actions: 'replayOn' },
          },
        },
      },
    },
    draining: {
      description:
        'Intake is off; messages already delivered are still admitted (they run at the next start); every run is told to stop and queue its result; final once both are done.',
      entry: 'stopRuns',
      invoke: {
        id: 'settleIntake',
        src: 'settleIntake',
        input: ({ context }) => context.runtime,
        onDone: { actions: 'noteIntakeSettled' },
        onError: { actions: 'noteIntakeSettled' },
      },
      always: { guard: 'drained', target: 'stopped' },
    },
    stopped: { type: 'final', entry: 'closeRuntime' },
  },
});
