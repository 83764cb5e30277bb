/**
 * The effects of one `commandRun` (machines/command-run-machine.ts), as xstate actor logic: gates,
 * script fetch, the kill switch, the slot, the launch record, the process and result delivery.
 */
import { fromCallback, fromPromise } from 'xstate';
import { formatRfc3339, type Command, type ExecResult } from '../../contract/index.js';
import type { AdmissionRecord } from './admission-ledger.js';
import type { ExecRuntime } from './exec-runtime.js';
import { fetchScriptObject, type ScriptFetch } from './fetch-script.js';
import { checkGates, type GateSkip } from './gates.js';
import { armKillSwitch } from './kill-switch.js';
import { jobLauncherFor } from './job-launcher.js';
import { startProcess, type ProcessOutcome } from './run-process.js';

/** Input shared by the run's effects. */
export interface RunEffectInput {
  readonly runtime: ExecRuntime;
  readonly command: Command;
  readonly record: AdmissionRecord;
}

/** The gates of §8.1; resolves with the skip, or undefined to go on. */
export const checkRunGates = fromPromise<GateSkip | undefined, RunEffectInput>(async ({ input }) => {
  // Admitted as `launching`: its gates passed just before admission and it has held a slot since,
  // so neither check here could see newer policy (§8.1's order is kept).
  if (input.runtime.launchedAtAdmission(input.command.request_id)) return undefined;
  return checkGates(input.command, input.record.received_at, input.runtime.services.broker, input.runtime.policy, input.runtime.now());
});

/** The `script_object` fetch (§8.3). */
export const fetchScript = fromPromise<ScriptFetch, RunEffectInput>(({ input }) =>
  fetchScriptObject(
    input.command.script_object as string,
    input.command.script_object_sha256 as string,
    input.runtime.services.config.dataDir,
    input.runtime.services.broker,
  ),
);

/** `kill.<exec_id>` while the run lives; sends `{type:'kill', reason:'remote'}` once. Nothing without exec_id. */
export const watchKill = fromCallback<{ type: string }, RunEffectInput>(({ input, sendBack }) => {
  const execId = input.command.exec_id;
  if (execId === undefined) return undefined;
  return armKillSwitch(input.runtime.services.broker, execId, () => sendBack({ type: 'kill', reason: 'remote' }), input.runtime.log);
});

/**
 * Holds the run's slot of the budget: on `slot.request` it queues for one and sends `slot.granted`.
 * The release lives here, not in machine context: stopping this actor (the run leaves `armed`)
 * gives the slot back, or takes the waiter out of the queue.
 */
export const holdSlot = fromCallback<{ type: string }, RunEffectInput>(({ input, sendBack, receive }) => {
  // Made only when the run queues for a slot: aborting builds a DOMException (a stack capture).
  let abort: AbortController | undefined;
  let release: (() => void) | undefined;
  let requested = false;
  receive((event) => {
    if (event.type !== 'slot.request' || requested) return;
    requested = true;
    // Admitted as `launching` with a slot taken at admission: that slot is this run's.
    const taken = input.runtime.takeLaunchSlot(input.command.request_id);
    if (taken !== undefined) {
      release = taken;
      sendBack({ type: 'slot.granted' });
      return;
    }
    const queued = new AbortController();
    abort = queued;
    input.runtime.budget.acquire(queued.signal).then(
      (granted) => {
        if (queued.signal.aborted) {
          granted();
          return;
        }
        release = granted;
        sendBack({ type: 'slot.granted' });
      },
      // Rejected only by the abort below: the run left the queue.
      () => undefined,
    );
  });
  return () => {
    abort?.abort();
    release?.();
  };
});

/**
 * Records `launching` in the ledger (unless admission already wrote it so), then queues EventStarted
 * (not awaited) when exec_id is set (§5.7).
 */
export const markLaunching = fromPromise<AdmissionRecord, RunEffectInput & { startedAtMs: number }>(async ({ input }) => {
  const { runtime, command, record } = input;
  const next = record.state === 'launching' ? record : await runtime.ledger.update(record, { state: 'launching' });
  runtime.log.debug({ request_id: command.request_id }, 'run launching recorded');
  await runtime.services.failpoints.hit('executor.launching');
  if (command.exec_id !== undefined) {
    // Queued alongside the spawn rather than before it: EventStarted must follow jitter and slot
    // (§5.7), not delay the process by another fsync. `started` never rejects.
    void runtime.started({
      result_id: record.result_id,
      request_id: command.request_id,
      exec_id: command.exec_id,
      pc_id: runtime.pcId,
      started_at: formatRfc3339(input.startedAtMs),
      manifest_id: command.id,
      version: command.version,
    });
  }
  return next;
});

/** Runs the process; sends `process.exited`; `{type:'kill'}` kills the tree; stopping the actor kills too. */
export const runProcess = fromCallback<{ type: string }, RunEffectInput & { script: string }>(({ input, sendBack, receive }) => {
  let kill: (() => void) | undefined;
  let killRequested = false;
  let exited = false;
  receive((event) => {
    if (event.type !== 'kill') return;
    killRequested = true;
    kill?.();
  });
  void startProcess({
    shell: input.command.shell,
    script: input.script,
    ...(input.command.cwd !== undefined && { cwd: input.command.cwd }),
    jobLauncher: jobLauncherFor(input.runtime.services.config.dataDir, input.runtime.log),
  }).then(async (proc) => {
    kill = () => proc.kill();
    if (killRequested) proc.kill();
    const outcome: ProcessOutcome = await proc.done;
    exited = true;
    input.runtime.log.debug({ request_id: input.command.request_id }, 'run process done');
    sendBack({ type: 'process.exited', outcome, finishedAtMs: input.runtime.now() });
  });
  return () => {
    // Leaving the run without an exit (agent stop) must not leave the tree behind.
    if (!exited) {
      killRequested = true;
      kill?.();
    }
  };
});

/** Queues the result durably and marks the ledger record finished. */
export const deliverRunResult = fromPromise<void, { runtime: ExecRuntime; record: AdmissionRecord; result: ExecResult }>(
  ({ input, signal }) => input.runtime.deliverResult(input.record, input.result, signal),
);
