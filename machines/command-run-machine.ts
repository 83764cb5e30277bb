/**
 * One admitted command, from admission to its single ExecResult (§8): gates → script fetch →
 * jitter → slot → gates again → launching → running (→ killing) → retry backoff → finishing.
 * The kill switch is armed from jitter on and latches; timeout and kill end the whole tree.
 *
 * @example
 * const run = createActor(commandRunMachine, { input: { runtime, admitted } }).start();
 * run.send({ type: 'shutdown' }); // queues `killed: agent shutting down` and reaches `done`
 */
import { assign, enqueueActions, sendTo, setup } from 'xstate';
import {
  appendStderrLine,
  DEADLINE_WHILE_WAITING_FOR_SLOT_MESSAGE,
  EXEC_ID_NOT_TOKEN_MESSAGE,
  EXIT_KILLED,
  isSubjectToken,
  EXIT_SKIP_DEADLINE,
  formatRfc3339,
  KILLED_WAITING_FOR_SLOT_MESSAGE,
  LOCAL_QUEUE_FULL_MESSAGE,
  parseRfc3339,
  remoteKillMessage,
  retryExhaustedNote,
  retryKilledNote,
  retrySucceededNote,
  runAsUnsupportedMessage,
  scriptObjectFailedMessage,
  SHUTDOWN_KILL_MESSAGE,
  spawnFailedMessage,
  timeoutMessage,
  timerDelayMs,
  type Command,
  type ExecResult,
} from '../contract/index.js';
import type { AdmissionRecord } from '../actors/exec/admission-ledger.js';
import type { ExecRuntime } from '../actors/exec/exec-runtime.js';
import type { ScriptFetch } from '../actors/exec/fetch-script.js';
import type { GateSkip } from '../actors/exec/gates.js';
import type { AdmittedCommand } from '../actors/exec/intake-pipeline.js';
import { buildResult, notRunResult, skipResult, type ResultIdentity } from '../domain/results.js';
import type { ProcessOutcome } from '../actors/exec/run-process.js';
import type {
  checkRunGates,
  deliverRunResult,
  fetchScript,
  holdSlot,
  markLaunching,
  runProcess,
  watchKill,
} from '../actors/exec/run-actors.js';
import { notProvided } from './not-provided.js';
import { logEffect, type LogLine } from './log-line.js';

/** Why a run is being killed. */
export type KillReason = 'remote' | 'timeout' | 'shutdown';

/** Node timers can fire up to a millisecond before `Date.now()` reaches their time. */
const TIMER_EARLY_TOLERANCE_MS = 5;

/** Input of a run: the shared runtime and the admitted command. */
export interface CommandRunInput {
  readonly runtime: ExecRuntime;
  readonly admitted: AdmittedCommand;
  /**
   * Set by the executor when `runtime.maxQueuedRuns` runs already wait to start: the command is not
   * run; its one result is exit -1 `refused: local queue full` (issue #13 item 7).
   */
  readonly queueFull?: boolean;
  /** A draw in [0, 1) from the executor's random source: the jitter is `floor(draw × jitter_secs × 1000)` ms. */
  readonly jitterDraw: number;
}

/** Output: the one result this run queued. */
export interface CommandRunOutput {
  readonly result: ExecResult;
}

interface Context {
  readonly runtime: ExecRuntime;
  readonly command: Command;
  readonly record: AdmissionRecord;
  readonly script: string;
  /** Retries done so far (attempts − 1). */
  readonly retries: number;
  readonly killReason: KillReason | undefined;
  readonly startedAtMs: number | undefined;
  readonly lastAttempt: ExecResult | undefined;
  readonly result: ExecResult | undefined;
  readonly jitterDraw: number;
  /** Jitter slept or the slot was queued for: only then can policy have changed since the first gates. */
  readonly waited: boolean;
  readonly queueFull: boolean;
}

type Event =
  | { type: 'kill'; reason: KillReason }
  | { type: 'slot.granted' }
  | { type: 'shutdown' }
  | { type: 'process.exited'; outcome: ProcessOutcome; finishedAtMs: number };

const identity = (context: Context): ResultIdentity => ({
  resultId: context.record.result_id,
  pcId: context.runtime.pcId,
  command: context.command,
});
const deadlineMs = (command: Command): number | undefined =>
  command.deadline_at === undefined ? undefined : parseRfc3339(command.deadline_at);
const killLine = (reason: KillReason, command: Command): string =>
  reason === 'timeout'
    ? timeoutMessage(command.timeout_secs)
    : reason === 'remote'
      ? remoteKillMessage(command.exec_id ?? '')
      : SHUTDOWN_KILL_MESSAGE;

/** The result of one finished attempt, before retry notes. */
function attemptResult(context: Context, outcome: ProcessOutcome, finishedAtMs: number): ExecResult {
  const startedAt = context.startedAtMs ?? finishedAtMs;
  if (outcome.kind === 'spawnFailed') {
    return buildResult(
      identity(context),
      EXIT_KILLED,
      '',
      spawnFailedMessage(context.command.shell, outcome.error),
      startedAt,
      finishedAtMs,
    );
  }
  if (context.killReason !== undefined) {
    return buildResult(
      identity(context),
      EXIT_KILLED,
      outcome.stdout,
      appendStderrLine(outcome.stderr, killLine(context.killReason, context.command)),
      startedAt,
      finishedAtMs,
    );
  }
  return buildResult(identity(context), outcome.exitCode, outcome.stdout, outcome.stderr, startedAt, finishedAtMs);
}

function withNote(result: ExecResult, note: string | undefined): ExecResult {
  return note === undefined ? result : { ...result, stderr: appendStderrLine(result.stderr, note) };
}

/** Output of `onDone` of an invoked effect, as the params of an action or guard. */
const output = <T>({ event }: { event: { output: T } }): T => event.output;
/** Error of `onError` of an invoked effect, as params. */
const failure = ({ event }: { event: { error: unknown } }): unknown => event.error;

/** The effect that logs `line`. */
const log = (context: Context, line: LogLine) => logEffect(context.runtime.log, line);

/** The `commandRun` statechart; effects are the actors of actors/exec/run-actors.ts (provided by supervisor/children.ts). */
export const commandRunMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as CommandRunInput,
    output: {} as CommandRunOutput,
  },
  actors: {
    checkRunGates: notProvided<typeof checkRunGates>('checkRunGates'),
    fetchScript: notProvided<typeof fetchScript>('fetchScript'),
    watchKill: notProvided<typeof watchKill>('watchKill'),
    holdSlot: notProvided<typeof holdSlot>('holdSlot'),
    markLaunching: notProvided<typeof markLaunching>('markLaunching'),
    runProcess: notProvided<typeof runProcess>('runProcess'),
    deliverRunResult: notProvided<typeof deliverRunResult>('deliverRunResult'),
  },
  guards: {
    queueFull: ({ context }) => context.queueFull,
    execIdNotToken: ({ context }) => context.command.exec_id !== undefined && !isSubjectToken(context.command.exec_id),
    gateSkipped: (_, skip: GateSkip | undefined) => skip !== undefined,
    runAsUnsupported: ({ context }) => context.command.run_as !== 'system',
    hasNoScriptObject: ({ context }) => context.command.script_object === undefined,
    scriptFetched: (_, fetched: ScriptFetch) => fetched.ok,
    bypassesBudget: ({ context }) => context.command.bypass_local_limit,
    hasNoJitter: ({ context }) => (context.command.jitter_secs ?? 0) <= 1,
    didNotWait: ({ context }) => !context.waited,
    hasTimeout: ({ context }) => context.command.timeout_secs > 0,
    killRequested: ({ context }) => context.killReason !== undefined,
    shouldRetry: ({ context, event }) => {
      if (event.type !== 'process.exited' || event.outcome.kind !== 'exited') return false;
      if (context.killReason === 'remote' || context.killReason === 'shutdown') return false;
      const failed = context.killReason === 'timeout' || event.outcome.exitCode !== 0;
      return failed && context.retries < (context.command.retry?.max ?? 0);
    },
    // The slot-wait timer may be clamped (timerDelayMs) or fire a millisecond early: act only when the deadline is really here.
    deadlineDue: ({ context }) => {
      const deadline = deadlineMs(context.command);
      return deadline !== undefined && context.runtime.now() >= deadline - TIMER_EARLY_TOLERANCE_MS;
    },
    deadlinePassed: ({ context }) => {
      const deadline = deadlineMs(context.command);
      return deadline !== undefined && context.runtime.now() > deadline;
    },
  },
  delays: {
    // Uniform in [0, jitter_secs) s; a jitter of 1 s or less is ignored (§8.2).
    jitter: ({ context }) => {
      const secs = context.command.jitter_secs ?? 0;
      return secs > 1 ? Math.floor(context.jitterDraw * secs * 1000) : 0;
    },
    timeout: ({ context }) => timerDelayMs(context.command.timeout_secs * 1000),
    // The deadline passes when now > deadline, so the skip fires one millisecond after it.
    untilDeadline: ({ context }) => timerDelayMs((deadlineMs(context.command) ?? 0) - context.runtime.now() + 1),
    backoff: ({ context }) => timerDelayMs((context.command.retry?.backoff_secs ?? 0) * 1000),
  },
  actions: {
    finishWithSkip: assign(({ context }, skip: GateSkip | undefined) =>
      skip === undefined ? {} : { result: skipResult(identity(context), skip.exitCode, skip.stderr, context.runtime.now()) },
    ),
    finishExecIdRefused: assign(({ context }) => ({
      result: notRunResult(identity(context), EXEC_ID_NOT_TOKEN_MESSAGE, context.runtime.now()),
    })),
    finishQueueFull: assign(({ context }) => ({
      result: notRunResult(identity(context), LOCAL_QUEUE_FULL_MESSAGE, context.runtime.now()),
    })),
    logQueueFull: enqueueActions(({ context, enqueue }) =>
      enqueue(
        log(context, {
          level: 'warn',
          msg: 'command refused: local queue full (too many runs wait to start); not run',
          fields: { request_id: context.command.request_id, max_queued_runs: context.runtime.maxQueuedRuns },
        }),
      ),
    ),
    finishRunAsUnsupported: assign(({ context }) => ({
      result: notRunResult(identity(context), runAsUnsupportedMessage(context.command.run_as), context.runtime.now()),
    })),
    useInlineScript: assign(({ context }) => ({ script: context.command.script })),
    useFetchedScript: assign((_, fetched: ScriptFetch) => (fetched.ok ? { script: fetched.script } : {})),
    finishScriptFetchFailed: assign(({ context }, fetched: ScriptFetch) =>
      fetched.ok
        ? {}
        : {
            result: notRunResult(
              identity(context),
              scriptObjectFailedMessage(context.command.script_object ?? '', fetched.reason),
              context.runtime.now(),
            ),
          },
    ),
    finishKilledBeforeStart: assign(({ context, event }) => {
      const reason: KillReason = event.type === 'kill' ? event.reason : 'shutdown';
      return { result: notRunResult(identity(context), killLine(reason, context.command), context.runtime.now()) };
    }),
    finishKilledWaitingForSlot: assign(({ context, event }) => {
      const reason: KillReason = event.type === 'kill' ? event.reason : 'shutdown';
      const text = reason === 'shutdown' ? SHUTDOWN_KILL_MESSAGE : KILLED_WAITING_FOR_SLOT_MESSAGE;
      return { result: notRunResult(identity(context), text, context.runtime.now()) };
    }),
    finishDeadlineWaitingForSlot: assign(({ context }) => ({
      result: skipResult(identity(context), EXIT_SKIP_DEADLINE, DEADLINE_WHILE_WAITING_FOR_SLOT_MESSAGE, context.runtime.now()),
    })),
    finishLedgerFailed: assign(({ context }, error: unknown) => ({
      result: notRunResult(
        identity(context),
        spawnFailedMessage(context.command.shell, `admission ledger unavailable (${String(error)})`),
        context.runtime.now(),
      ),
    })),
    // The slot is held by the `holdSlot` actor (invoked for all of `armed`): leaving `armed` stops it, which gives the slot back.
    requestSlot: sendTo('holdSlot', { type: 'slot.request' }),
    noteWait: assign({ waited: () => true }),
    noteWaitIfQueued: assign({ waited: ({ context }) => context.waited || !context.runtime.budget.available() }),
    stampStart: assign(({ context }) => ({ startedAtMs: context.runtime.now() })),
    rememberLaunchRecord: assign((_, record: AdmissionRecord) => ({ record })),
    latchKill: assign(({ context, event }) => ({ killReason: context.killReason ?? (event.type === 'kill' ? event.reason : 'shutdown') })),
    latchTimeout: assign({ killReason: () => 'timeout' as const }),
    // A remote kill or shutdown that lands while a timeout is being enforced wins: no retry after a kill (§8.4).
    escalateKill: assign(({ context, event }) => {
      const reason = event.type === 'kill' ? event.reason : 'shutdown';
      return { killReason: context.killReason === 'timeout' && reason !== 'timeout' ? reason : (context.killReason ?? reason) };
    }),
    killProcess: sendTo('runProcess', { type: 'kill' }),
    recordAttempt: assign(({ context, event }) => {
      if (event.type !== 'process.exited') return {};
      return {
        lastAttempt: attemptResult(context, event.outcome, event.finishedAtMs),
        retries: context.retries + 1,
        killReason: undefined,
      };
    }),
    finishAttempt: assign(({ context, event }) => {
      if (event.type !== 'process.exited') return {};
      const result = attemptResult(context, event.outcome, event.finishedAtMs);
      const retries = context.retries;
      let note: string | undefined;
      if (retries > 0) {
        if (context.killReason === 'remote') note = retryKilledNote(retries);
        else if (result.exit_code === 0 && context.killReason === undefined) note = retrySucceededNote(retries);
        else if (context.killReason !== 'shutdown') note = retryExhaustedNote(retries);
      }
      return { result: withNote(result, note) };
    }),
    finishKilledInBackoff: assign(({ context, event }) => {
      const last = context.lastAttempt as ExecResult;
      const reason: KillReason = event.type === 'kill' ? event.reason : 'shutdown';
      const note = reason === 'remote' ? retryKilledNote(context.retries) : SHUTDOWN_KILL_MESSAGE;
      return { result: { ...withNote(last, note), exit_code: EXIT_KILLED, finished_at: formatRfc3339(context.runtime.now()) } };
    }),
    finishDeadlineInBackoff: assign(({ context }) => ({
      result: withNote(context.lastAttempt as ExecResult, retryExhaustedNote(context.retries)),
    })),
    logResult: enqueueActions(({ context, enqueue }) => {
      const r = context.result;
      if (r === undefined) return;
      enqueue(
        log(context, {
          level: 'info',
          msg: 'command finished',
          fields: { request_id: r.request_id, result_id: r.result_id, exit_code: r.exit_code, skipped: r.skipped },
        }),
      );
    }),
  },
}).createMachine({
  id: 'commandRun',
  context: ({ input }) => ({
    runtime: input.runtime,
    command: input.admitted.command,
    record: input.admitted.record,
    script: '',
    retries: 0,
    killReason: undefined,
    startedAtMs: undefined,
    lastAttempt: undefined,
    result: undefined,
    jitterDraw: input.jitterDraw,
    waited: false,
    queueFull: input.queueFull === true,
  }),
  initial: 'checkingGates',
  output: ({ context }) => ({ result: context.result as ExecResult }),
  states: {
    checkingGates: {
      description:
        'Staleness, version pin, revoke and deadline, in the contract order (§8.1). A run over the queued-run cap is refused first (exit -1, local queue full), then an exec_id that is not one subject token: kill.<exec_id> and events.started.<exec_id> would be wildcards.',
      tags: ['busy', 'queued'],
      always: [
        { guard: 'queueFull', target: 'finishing', actions: ['finishQueueFull', 'logQueueFull'] },
        { guard: 'execIdNotToken', target: 'finishing', actions: 'finishExecIdRefused' },
      ],
      invoke: {
        id: 'checkRunGates',
        src: 'checkRunGates',
        input: ({ context }) => ({ runtime: context.runtime, command: context.command, record: context.record }),
        onDone: [
          {
            guard: { type: 'gateSkipped', params: output<GateSkip | undefined> },
            target: 'finishing',
            actions: { type: 'finishWithSkip', params: output<GateSkip | undefined> },
          },
          { guard: 'runAsUnsupported', target: 'finishing', actions: 'finishRunAsUnsupported' },
          { target: 'fetchingScript' },
        ],
      },
      on: { shutdown: { target: 'finishing', actions: 'finishKilledBeforeStart' } },
    },
    fetchingScript: {
      description: 'Inline scripts pass through; script_object is fetched from store scripts and SHA-256 checked (§8.3).',
      tags: ['busy', 'queued'],
      always: { guard: 'hasNoScriptObject', target: 'armed', actions: 'useInlineScript' },
      invoke: {
        id: 'fetchScript',
        src: 'fetchScript',
        input: ({ context }) => ({ runtime: context.runtime, command: context.command, record: context.record }),
        onDone: [
          {
            guard: { type: 'scriptFetched', params: output<ScriptFetch> },
            target: 'armed',
            actions: { type: 'useFetchedScript', params: output<ScriptFetch> },
          },
          { target: 'finishing', actions: { type: 'finishScriptFetchFailed', params: output<ScriptFetch> } },
        ],
      },
      on: { shutdown: { target: 'finishing', actions: 'finishKilledBeforeStart' } },
    },
    armed: {
      description: 'The kill switch (kill.<exec_id>) is armed from here until the result; it latches.',
      tags: ['busy'],
      invoke: [
        {
          id: 'watchKill',
          src: 'watchKill',
          input: ({ context }) => ({ runtime: context.runtime, command: context.command, record: context.record }),
        },
        {
          id: 'holdSlot',
          src: 'holdSlot',
          input: ({ context }) => ({ runtime: context.runtime, command: context.command, record: context.record }),
        },
      ],
      on: { shutdown: { actions: ({ self }) => self.send({ type: 'kill', reason: 'shutdown' }) } },
      initial: 'jitter',
      states: {
        jitter: {
          description: 'Sleeps uniform [0, jitter_secs) s when jitter_secs > 1 (§8.2).',
          tags: ['queued'],
          always: { guard: 'hasNoJitter', target: 'waitingForSlot' },
          after: { jitter: { target: 'waitingForSlot', actions: 'noteWait' } },
          on: { kill: { target: '#commandRun.finishing', actions: 'finishKilledBeforeStart' } },
        },
        waitingForSlot: {
          description: 'Queued FIFO for the process-wide max_local_concurrent budget; kill and deadline apply, no timeout yet (§8.2).',
          tags: ['queued'],
          always: { guard: 'bypassesBudget', target: 'checkingGatesAgain' },
          entry: ['noteWaitIfQueued', 'requestSlot'],
          after: { untilDeadline: { guard: 'deadlineDue', target: '#commandRun.finishing', actions: 'finishDeadlineWaitingForSlot' } },
          on: {
            'slot.granted': 'checkingGatesAgain',
            kill: { target: '#commandRun.finishing', actions: 'finishKilledWaitingForSlot' },
          },
        },
        checkingGatesAgain: {
          description: 'The gates again: policy may have changed during jitter and the slot wait (§8.1); no wait, no second check.',
          tags: ['queued'],
          always: { guard: 'didNotWait', target: 'launching' },
          invoke: {
            id: 'checkRunGatesAgain',
            src: 'checkRunGates',
            input: ({ context }) => ({ runtime: context.runtime, command: context.command, record: context.record }),
            onDone: [
              {
                guard: { type: 'gateSkipped', params: output<GateSkip | undefined> },
                target: '#commandRun.finishing',
                actions: { type: 'finishWithSkip', params: output<GateSkip | undefined> },
              },
              { target: 'launching' },
            ],
          },
          on: { kill: { target: '#commandRun.finishing', actions: 'finishKilledBeforeStart' } },
        },
        launching: {
          description: 'Ledger record → launching, then EventStarted (with exec_id); a kill now is latched for the process.',
          entry: 'stampStart',
          invoke: {
            id: 'markLaunching',
            src: 'markLaunching',
            input: ({ context }) => ({
              runtime: context.runtime,
              command: context.command,
              record: context.record,
              startedAtMs: context.startedAtMs as number,
            }),
            onDone: { target: 'executing', actions: { type: 'rememberLaunchRecord', params: output<AdmissionRecord> } },
            onError: { target: '#commandRun.finishing', actions: { type: 'finishLedgerFailed', params: failure } },
          },
          on: { kill: { actions: 'latchKill' } },
        },
        executing: {
          description: 'The process runs; exit, timeout or kill ends this attempt.',
          invoke: {
            id: 'runProcess',
            src: 'runProcess',
            input: ({ context }) => ({
              runtime: context.runtime,
              command: context.command,
              record: context.record,
              script: context.script,
            }),
          },
          on: {
            'process.exited': [
              { guard: 'shouldRetry', target: 'backoff', actions: 'recordAttempt' },
              { target: '#commandRun.finishing', actions: 'finishAttempt' },
            ],
          },
          initial: 'running',
          states: {
            running: {
              always: { guard: 'killRequested', target: 'killing' },
              after: { timeout: { guard: 'hasTimeout', target: 'killing', actions: 'latchTimeout' } },
              on: { kill: { target: 'killing', actions: 'latchKill' } },
            },
            killing: {
              description: "SIGTERM to the process group (Windows: the command's Job Object ends), SIGKILL after 5 s; waits for the exit.",
              entry: 'killProcess',
              on: { kill: { actions: 'escalateKill' } },
            },
          },
        },
        backoff: {
          description: 'retry.backoff_secs between attempts; the slot is kept, the deadline re-checked (§8.4).',
          after: {
            backoff: [
              { guard: 'deadlinePassed', target: '#commandRun.finishing', actions: 'finishDeadlineInBackoff' },
              { target: 'executing' },
            ],
          },
          on: { kill: { target: '#commandRun.finishing', actions: 'finishKilledInBackoff' } },
        },
      },
    },
    finishing: {
      description: 'Queues the one result durably (retrying, never dropping it), then marks the ledger record finished.',
      entry: 'logResult',
      invoke: {
        id: 'deliverRunResult',
        src: 'deliverRunResult',
        input: ({ context }) => ({ runtime: context.runtime, record: context.record, result: context.result as ExecResult }),
        onDone: 'done',
      },
    },
    done: { type: 'final' },
  },
});
