/**
 * The effects of the `executor` child (machines/executor-machine.ts), as xstate actor logic:
 * building the runtime, ledger recovery, the admission sink, and waiting for intake to settle.
 * supervisor/children.ts provides them; tests provide fakes.
 */
import { fromCallback, fromPromise } from 'xstate';
import type { AgentServices } from '../ports.js';
import { createExecRuntime, type ExecRuntime } from './exec-runtime.js';
import type { AdmittedCommand } from './intake-pipeline.js';
import { recoverLedger } from './recover-ledger.js';

/** How often the admission queue's counters are copied into `status`. */
export const INTAKE_STATS_INTERVAL_MS = 1_000;

/** Builds the runtime (keyring, ledger, budget). */
export const createRuntime = fromPromise<ExecRuntime, AgentServices>(({ input }) => createExecRuntime(input));

/** Startup recovery of the ledger (§7). */
export const recoverAdmissions = fromPromise<AdmittedCommand[], ExecRuntime>(({ input }) => recoverLedger(input));

/**
 * Listens to the runtime's admission sink for as long as the executor is active, so a command the
 * intake admitted just as it was stopped by a disconnect is still run (the sink outlives the intake).
 */
export const watchAdmissions = fromCallback<{ type: string }, ExecRuntime>(({ input, sendBack }) => {
  const unsubscribe = input.admissions.subscribe((admitted) => sendBack({ type: 'command.admitted', admitted }));
  // The queue's counters reach `status` at most once a second, and only when they moved.
  let last = '';
  const timer = setInterval(() => {
    const stats = input.intakeStats();
    const text = JSON.stringify(stats);
    if (text === last) return;
    last = text;
    sendBack({ type: 'intake.statsChanged', stats });
  }, INTAKE_STATS_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
});

/** Waits until every delivered message has been admitted or refused (the queue outlives the intake). */
export const settleIntake = fromPromise<void, ExecRuntime | undefined>(async ({ input }) => input?.intakeSettled());
