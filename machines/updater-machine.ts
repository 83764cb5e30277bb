/**
 * The `updater` child (contract §10): moves this agent to the resolved `target_version` and says
 * so. Two regions run side by side:
 *
 * - `boot`: the boot sentinel ran in `run` before the tree started; after {@link BOOT_CONFIRM_MS}
 *   with the tree up this boot is confirmed healthy (the executable becomes the last-good copy).
 *   A broker outage does not delay it: only the tree being up counts.
 * - `update`: loading → idle ⇄ evaluating → jitter → downloading → verifying → awaitingIdle →
 *   swapping → exiting, with awaitingStore (store/object absent, §4 backoff, woken on reconnect),
 *   backoff (a failure) and parked (loop guard, invalid target, or three failed verifications of
 *   one target — until the target changes). A target change cancels whatever is in flight before
 *   the swap (the download actor removes its partial file when stopped).
 *
 * Pure: effects are actors named in `setup` (implemented in actors/updater/, provided by
 * supervisor/children.ts, replaced by `.provide()` fakes in tests); time is the actor clock
 * (delays), randomness a seed from the root; logs and obs events go through the `report` effect.
 * The exit with code 64 is a request to the root (`exit`), which stops the tree gracefully.
 *
 * @example
 * createActor(updaterMachine.provide({ actors: fakes }), { input, clock: new SimulatedClock() }).start();
 */
import { assign, enqueueActions, fromCallback, fromPromise, sendParent, setup, type EventObject } from 'xstate';
import { PROCESS_EXIT_SELF_UPDATE, timerDelayMs, type EffectiveConfig, type LastSwap } from '../contract/index.js';
import type { BrokerPort, LivePort } from '../actors/ports.js';
import type {
  DownloadEvent,
  IdleEvent,
  InstallState,
  ReleaseJob,
  StepOutcome,
  TargetEvent,
  UpdaterInput,
  UpdaterPorts,
  UpdaterReport,
} from '../actors/updater/updater-types.js';
import {
  BOOT_CONFIRM_MS,
  IDLE_WAIT_CAP_MS,
  MAX_VERIFY_FAILURES,
  evaluateTarget,
  jitterDelayMs,
  nextRandom,
  retryDelayMs,
  type TargetDecision,
} from './updater-rules.js';

/** Poll period of the running-commands check while waiting to swap. */
export const IDLE_POLL_MS = 1_000;

/** The `status` row of the updater (snake_case, integer ms). */
export interface UpdaterStatus {
  readonly running_version: string;
  readonly target: string | null;
  readonly jitter_max_ms: number;
  readonly self_update: 'enabled' | 'disabled' | 'loading';
  readonly disabled_reason: string | null;
  readonly boot: 'unconfirmed' | 'confirmed';
  readonly bytes_done: number;
  readonly bytes_total: number | null;
  /** The wait chosen for the current jitter, store wait or backoff, else null. */
  readonly wait_ms: number | null;
  /** Failures (download, verification, swap) of the current target. */
  readonly failures: number;
  readonly verification_failures: number;
  readonly running_commands: number | null;
  readonly parked_reason: string | null;
  readonly last_error: string | null;
  readonly quarantined_versions: readonly string[];
}

/** What the updater asks of its parent: stop the tree and exit the process with `code`. */
export interface ExitRequest {
  readonly type: 'exit';
  readonly code: number;
  readonly child: string;
  readonly reason: string;
}

interface Context {
  /** Handed to the effects; the machine never calls it. */
  readonly ports: UpdaterPorts;
  readonly runningVersion: string;
  readonly seed: number;
  readonly bootConfirmMs: number;
  readonly target: string | null;
  readonly jitterMs: number;
  readonly quarantined: readonly string[];
  readonly lastSwap: LastSwap | null;
  readonly bootConfirmed: boolean;
  readonly storeAttempt: number;
  readonly failureAttempt: number;
  readonly verifyFailures: number;
  readonly delayMs: number;
  /** Digest of the downloaded object, for verification. */
  readonly digest: string | null;
  /** `stage: reason` of the last failure of the current target, and of the last one reported (repeats are not re-sent). */
  readonly lastFailure: string | null;
  readonly reportedFailure: string | null;
  readonly status: UpdaterStatus;
}

type Event =
  | TargetEvent
  | DownloadEvent
  | IdleEvent
  | { readonly type: 'broker.connected' }
  | { readonly type: 'broker.disconnected' }
  | { readonly type: 'shutdown' };

type Stage = 'download' | 'verify' | 'swap' | 'boot';

const notProvided = (name: string) => new Error(`updater effect ${name} is not provided (supervisor/children.ts provides it)`);

function decide(context: Context): TargetDecision {
  return evaluateTarget(context.target, context.runningVersion, context.quarantined, context.lastSwap);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A fresh attempt at a (new) target: counters and progress start over. */
function freshTarget(context: Context, target: string | null, jitterMs: number): Partial<Context> {
  return {
    target,
    jitterMs,
    storeAttempt: 0,
    failureAttempt: 0,
    verifyFailures: 0,
    lastFailure: null,
    reportedFailure: null,
    // A loop record only ever blocks the target it names; once the target moves on it is spent.
    lastSwap: context.lastSwap !== null && context.lastSwap.target !== target ? null : context.lastSwap,
    status: {
      ...context.status,
      target,
      jitter_max_ms: jitterMs,
      bytes_done: 0,
      bytes_total: null,
      wait_ms: null,
      failures: 0,
      verification_failures: 0,
      parked_reason: null,
      last_error: null,
      running_commands: null,
    },
  };
}

/** The updater machine; see the module comment. */
export const updaterMachine = setup({
  types: {
    input: {} as UpdaterInput & { readonly bootConfirmMs?: number },
    context: {} as Context,
    events: {} as Event,
  },
  actors: {
    /** Reads `quarantine.json` and `last_swap.json`, and whether this process can update itself. */
    loadInstall: fromPromise<InstallState, { readonly ports: UpdaterPorts; readonly runningVersion: string }>(async () => {
      throw notProvided('loadInstall');
    }),
    /** Sends `target.changed` now and whenever `target_version` or its jitter changes. */
    watchTarget: fromCallback<EventObject, LivePort<EffectiveConfig>>(() => {
      throw notProvided('watchTarget');
    }),
    /** Sends `broker.connected` / `broker.disconnected`. */
    watchBroker: fromCallback<EventObject, BrokerPort>(() => {
      throw notProvided('watchBroker');
    }),
    /** Streams the release to `staging/`; sends progress, then finished or failed; removes partial files when stopped. */
    downloadRelease: fromCallback<EventObject, ReleaseJob>(() => {
      throw notProvided('downloadRelease');
    }),
    /** SHA-256 against the object digest (as bytes), then `--version` of the staged file within 10 s. */
    verifyRelease: fromPromise<StepOutcome, ReleaseJob>(async () => {
      throw notProvided('verifyRelease');
    }),
    /** Sends `commands.drained` / `commands.counted` every poll. */
    waitForIdle: fromCallback<EventObject, { readonly pollMs: number }>(() => {
      throw notProvided('waitForIdle');
    }),
    /** §10 step 4: `.new`, `.old`, rename, `last_swap.json`; undone on failure. */
    swapExecutable: fromPromise<StepOutcome, ReleaseJob>(async () => {
      throw notProvided('swapExecutable');
    }),
    /** Marks this boot healthy and keeps the executable as the last-good copy. */
    confirmBoot: fromPromise<void, { readonly ports: UpdaterPorts; readonly version: string }>(async () => {
      throw notProvided('confirmBoot');
    }),
    /** One log line and optionally one `agent_update_*` obs event. Never rejects. */
    report: fromPromise<void, { readonly ports: UpdaterPorts; readonly report: UpdaterReport }>(async () => {
      throw notProvided('report');
    }),
  },
  actions: {
    applyInstall: assign(({ context }, install: InstallState) => ({
      quarantined: install.quarantined,
      lastSwap: install.supported ? install.lastSwap : null,
      status: {
        ...context.status,
        self_update: install.supported ? ('enabled' as const) : ('disabled' as const),
        disabled_reason: install.supported ? null : install.reason,
        quarantined_versions: install.quarantined,
      },
    })),
    applyLoadError: assign(({ context }, error: unknown) => ({
      status: {
        ...context.status,
        self_update: 'disabled' as const,
        disabled_reason: `cannot read the updater state: ${errorText(error)}`,
      },
    })),
    rememberTarget: assign(({ context, event }) => {
      if (event.type !== 'target.changed') return {};
      if (event.target === context.target)
        return { jitterMs: event.jitterMs, status: { ...context.status, jitter_max_ms: event.jitterMs } };
      return freshTarget(context, event.target, event.jitterMs);
    }),
    drawJitter: assign(({ context }) => {
      const r = nextRandom(context.seed);
      const delayMs = jitterDelayMs(context.jitterMs, r.value);
      return { seed: r.seed, delayMs, status: { ...context.status, wait_ms: delayMs } };
    }),
    drawStoreWait: assign(({ context }) => {
      const r = nextRandom(context.seed);
      const delayMs = retryDelayMs(context.storeAttempt, r.value);
      return { seed: r.seed, delayMs, storeAttempt: context.storeAttempt + 1, status: { ...context.status, wait_ms: delayMs } };
    }),
    drawBackoff: assign(({ context }) => {
      const r = nextRandom(context.seed);
      const delayMs = retryDelayMs(context.failureAttempt - 1, r.value);
      return { seed: r.seed, delayMs, status: { ...context.status, wait_ms: delayMs } };
    }),
    clearWait: assign(({ context }) => ({ status: { ...context.status, wait_ms: null } })),
    recordProgress: assign(({ context, event }) =>
      event.type === 'download.progressed' ? { status: { ...context.status, bytes_done: event.bytes, bytes_total: event.total } } : {},
    ),
    recordDownloaded: assign(({ context, event }) =>
      event.type === 'download.finished'
        ? { storeAttempt: 0, digest: event.digest, status: { ...context.status, bytes_done: event.bytes, bytes_total: event.bytes } }
        : {},
    ),
    recordStoreMissing: assign(({ context, event }) =>
      event.type === 'download.failed' ? { status: { ...context.status, last_error: event.reason } } : {},
    ),
    recordFailure: assign(({ context }, params: { stage: Stage; reason: string; verification: boolean }) => ({
      failureAttempt: context.failureAttempt + 1,
      verifyFailures: context.verifyFailures + (params.verification ? 1 : 0),
      lastFailure: `${params.stage}: ${params.reason}`,
      status: {
        ...context.status,
        failures: context.status.failures + 1,
        verification_failures: context.status.verification_failures + (params.verification ? 1 : 0),
        last_error: `${params.stage}: ${params.reason}`,
      },
    })),
    recordBusy: assign(({ context, event }) =>
      event.type === 'commands.counted' ? { status: { ...context.status, running_commands: event.running } } : {},
    ),
    recordIdle: assign(({ context }) => ({ status: { ...context.status, running_commands: 0 } })),
    recordParked: assign(({ context }, params: { reason: string }) => ({
      status: { ...context.status, parked_reason: params.reason, wait_ms: null },
    })),
    recordBootConfirmed: assign(({ context }) => ({ bootConfirmed: true, status: { ...context.status, boot: 'confirmed' as const } })),
    /** Every report is its own short-lived effect actor: no I/O in the machine, and nothing waits for it. */
    say: enqueueActions(({ context, enqueue }, params: UpdaterReport) => {
      enqueue.spawnChild('report', { input: { ports: context.ports, report: params } });
    }),
    reportStarted: enqueueActions(({ context, enqueue }) => {
      const report: UpdaterReport = {
        level: 'info',
        msg: `self-update to ${context.target ?? '?'} started (running ${context.runningVersion})`,
        fields: { from: context.runningVersion, to: context.target },
        obs: { kind: 'agent_update_started', payload: { from: context.runningVersion, to: context.target } },
      };
      enqueue.spawnChild('report', { input: { ports: context.ports, report } });
    }),
    /** One log line and obs event per distinct failure of a target; a repeat only updates the status. */
    reportFailure: enqueueActions(({ context, enqueue }) => {
      if (context.lastFailure === null || context.lastFailure === context.reportedFailure) return;
      enqueue.assign({ reportedFailure: context.lastFailure });
      const report: UpdaterReport = {
        level: 'warn',
        msg: `self-update to ${context.target ?? '?'} failed: ${context.lastFailure}`,
        fields: { target: context.target, failures: context.status.failures, verification_failures: context.verifyFailures },
        obs: {
          kind: 'agent_update_failed',
          payload: { from: context.runningVersion, to: context.target, error: context.lastFailure, failures: context.status.failures },
        },
      };
      enqueue.spawnChild('report', { input: { ports: context.ports, report } });
    }),
    /** Asks the root to stop the tree and exit with code 64 (the machine never exits the process). */
    requestExit: sendParent(({ context }): ExitRequest => ({
      type: 'exit',
      code: PROCESS_EXIT_SELF_UPDATE,
      child: 'updater',
      reason: `self-update ${context.runningVersion} → ${context.target ?? '?'}: executable swapped`,
    })),
  },
  guards: {
    supported: (_, install: InstallState) => install.supported,
    isNewTarget: ({ context, event }) => event.type === 'target.changed' && event.target !== context.target,
    decisionIs: ({ context }, params: { kind: TargetDecision['kind'] }) => decide(context).kind === params.kind,
    noWait: ({ context }) => context.delayMs === 0,
    storeMissing: ({ event }) => event.type === 'download.failed' && (event.kind === 'absent' || event.kind === 'unavailable'),
    digestMismatch: ({ event }) => event.type === 'download.failed' && event.kind === 'digest_mismatch',
    tooManyVerifyFailures: ({ context }) => context.verifyFailures >= MAX_VERIFY_FAILURES,
    bootConfirmed: ({ context }) => context.bootConfirmed,
    stepOk: (_, outcome: StepOutcome) => outcome.ok,
  },
  delays: {
    bootConfirm: ({ context }) => timerDelayMs(context.bootConfirmMs),
    wait: ({ context }) => timerDelayMs(context.delayMs),
    idleWaitCap: IDLE_WAIT_CAP_MS,
  },
}).createMachine({
  id: 'updater',
  context: ({ input }) => ({
    ports: input.ports,
    runningVersion: input.runningVersion,
    seed: input.seed >>> 0,
    bootConfirmMs: input.bootConfirmMs ?? BOOT_CONFIRM_MS,
    target: null,
    jitterMs: 0,
    quarantined: [],
    lastSwap: null,
    bootConfirmed: false,
    storeAttempt: 0,
    failureAttempt: 0,
    verifyFailures: 0,
    delayMs: 0,
    digest: null,
    lastFailure: null,
    reportedFailure: null,
    status: {
      running_version: input.runningVersion,
      target: null,
      jitter_max_ms: 0,
      self_update: 'loading',
      disabled_reason: null,
      boot: 'unconfirmed',
      bytes_done: 0,
      bytes_total: null,
      wait_ms: null,
      failures: 0,
      verification_failures: 0,
      running_commands: null,
      parked_reason: null,
      last_error: null,
      quarantined_versions: [],
    },
  }),
  initial: 'running',
  states: {
    running: {
      type: 'parallel',
      invoke: [
        { id: 'watchTarget', src: 'watchTarget', input: ({ context }) => context.ports.effectiveConfig },
        { id: 'watchBroker', src: 'watchBroker', input: ({ context }) => context.ports.broker },
      ],
      on: { shutdown: { target: 'stopped' } },
      states: {
        boot: {
          initial: 'unconfirmed',
          states: {
            unconfirmed: {
              description:
                'This boot counts in boot_sentinel.json until the tree has been up for 30 s; a broker outage does not hold it back.',
              after: { bootConfirm: 'confirming' },
            },
            confirming: {
              description: 'Clearing the boot count and keeping this executable as the last-good copy.',
              invoke: {
                id: 'confirmBoot',
                src: 'confirmBoot',
                input: ({ context }) => ({ ports: context.ports, version: context.runningVersion }),
                onDone: { target: 'confirmed' },
                onError: {
                  target: 'confirmed',
                  actions: {
                    type: 'say',
                    params: ({ event }) => ({
                      level: 'error',
                      msg: 'could not confirm this boot (boot_sentinel.json / last_good/); a later rollback may not be possible',
                      fields: { err: errorText(event.error) },
                    }),
                  },
                },
              },
            },
            confirmed: {
              description: 'Healthy boot recorded; swaps may proceed (the last-good copy is this version).',
              entry: 'recordBootConfirmed',
            },
          },
        },
        update: {
          initial: 'loading',
          on: {
            'target.changed': [{ guard: 'isNewTarget', target: '.evaluating', actions: 'rememberTarget' }, { actions: 'rememberTarget' }],
          },
          states: {
            loading: {
              description:
                'Reading quarantine.json and last_swap.json, and whether this process is a single executable that can replace itself.',
              tags: ['busy'],
              on: { 'target.changed': { actions: 'rememberTarget' } },
              invoke: {
                id: 'loadInstall',
                src: 'loadInstall',
                input: ({ context }) => ({ ports: context.ports, runningVersion: context.runningVersion }),
                onDone: [
                  {
                    guard: { type: 'supported', params: ({ event }) => event.output },
                    target: 'evaluating',
                    actions: { type: 'applyInstall', params: ({ event }) => event.output },
                  },
                  { target: 'disabled', actions: { type: 'applyInstall', params: ({ event }) => event.output } },
                ],
                onError: {
                  target: 'disabled',
                  actions: { type: 'applyLoadError', params: ({ event }: { event: { error: unknown } }) => event.error },
                },
              },
            },
            disabled: {
              description:
                'Self-update cannot work in this process (not a single executable, or an unsupported platform); targets are only recorded.',
              tags: ['healthy'],
              entry: {
                type: 'say',
                params: ({ context }) => ({
                  level: 'info',
                  msg: `self-update is off: ${context.status.disabled_reason ?? 'unknown reason'}`,
                  fields: {},
                }),
              },
              on: { 'target.changed': { actions: 'rememberTarget' } },
            },
            evaluating: {
              description:
                '§10 step 1: no target, the running version, quarantined or invalid → no update; a swap loop → parked; else jitter.',
              always: [
                { guard: { type: 'decisionIs', params: { kind: 'none' } }, target: 'idle' },
                { guard: { type: 'decisionIs', params: { kind: 'current' } }, target: 'idle' },
                {
                  guard: { type: 'decisionIs', params: { kind: 'quarantined' } },
                  target: 'idle',
                  actions: {
                    type: 'say',
                    params: ({ context }) => ({
                      level: 'warn',
                      msg: `target_version ${context.target} is quarantined (it failed to boot here and was rolled back); not updating — publish a fixed release under a new version`,
                      fields: { target: context.target },
                    }),
                  },
                },
                {
                  guard: { type: 'decisionIs', params: { kind: 'invalid' } },
                  target: 'parked',
                  actions: {
                    type: 'recordParked',
                    params: { reason: 'target_version is not a valid version label ([0-9A-Za-z._+-], at most 64 characters)' },
                  },
                },
                {
                  guard: { type: 'decisionIs', params: { kind: 'loop' } },
                  target: 'parked',
                  actions: {
                    type: 'recordParked',
                    params: ({ context }) => ({
                      reason: `swap loop: the last swap to ${context.target} left version ${context.runningVersion} running (last_swap.json); the release under that key is mislabelled`,
                    }),
                  },
                },
                { target: 'jitter', actions: 'drawJitter' },
              ],
            },
            idle: {
              description: 'Nothing to do: no target, the running version, or a quarantined target.',
              tags: ['healthy'],
            },
            jitter: {
              description: '§10 step 2: a random wait in 0..=target_version_jitter so a fleet does not download at once.',
              tags: ['healthy'],
              always: { guard: 'noWait', target: 'downloading', actions: 'reportStarted' },
              after: { wait: { target: 'downloading', actions: 'reportStarted' } },
              exit: 'clearWait',
            },
            downloading: {
              description:
                '§10 step 3: streaming the platform key from agent_releases to staging/<exe-stem>.<V>.staged (fsync; refused below 3× the size free).',
              tags: ['busy'],
              invoke: {
                id: 'downloadRelease',
                src: 'downloadRelease',
                input: ({ context }) => ({ ports: context.ports, target: context.target ?? '', runningVersion: context.runningVersion }),
                onError: {
                  target: 'failed',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ stage: 'download' as const, reason: errorText(event.error), verification: false }),
                  },
                },
              },
              on: {
                'download.progressed': { actions: 'recordProgress' },
                'download.finished': { target: 'verifying', actions: 'recordDownloaded' },
                'download.failed': [
                  { guard: 'storeMissing', target: 'awaitingStore', actions: 'recordStoreMissing' },
                  {
                    guard: 'digestMismatch',
                    target: 'failed',
                    actions: {
                      type: 'recordFailure',
                      params: ({ event }) => ({
                        stage: 'verify' as const,
                        reason: event.type === 'download.failed' ? event.reason : '',
                        verification: true,
                      }),
                    },
                  },
                  {
                    target: 'failed',
                    actions: {
                      type: 'recordFailure',
                      params: ({ event }) => ({
                        stage: 'download' as const,
                        reason: event.type === 'download.failed' ? event.reason : '',
                        verification: false,
                      }),
                    },
                  },
                ],
              },
            },
            awaitingStore: {
              description:
                'Store agent_releases or the release object is absent, or the broker is away: retry 1 s doubling to 300 s (±25 %), at once on reconnect (§4).',
              tags: ['degraded'],
              entry: 'drawStoreWait',
              exit: 'clearWait',
              after: { wait: 'downloading' },
              on: { 'broker.connected': 'downloading' },
            },
            verifying: {
              description:
                'SHA-256 of the staged bytes equals the object digest (compared as bytes), and the staged file prints `kanade-agent <V>` for --version within 10 s.',
              tags: ['busy'],
              invoke: {
                id: 'verifyRelease',
                src: 'verifyRelease',
                input: ({ context }) => ({
                  ports: context.ports,
                  target: context.target ?? '',
                  runningVersion: context.runningVersion,
                  digest: context.digest ?? '',
                }),
                onDone: [
                  {
                    guard: { type: 'stepOk', params: ({ event }) => event.output },
                    target: 'awaitingIdle',
                    actions: {
                      type: 'say',
                      params: ({ context }) => ({
                        level: 'info',
                        msg: `release ${context.target} verified (digest and --version)`,
                        fields: { target: context.target },
                        obs: {
                          kind: 'agent_update_verified',
                          payload: { from: context.runningVersion, to: context.target, bytes: context.status.bytes_done },
                        },
                      }),
                    },
                  },
                  {
                    target: 'failed',
                    actions: {
                      type: 'recordFailure',
                      params: ({ event }) => ({
                        stage: 'verify' as const,
                        reason: event.output.ok ? '' : event.output.reason,
                        verification: true,
                      }),
                    },
                  },
                ],
                onError: {
                  target: 'failed',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ stage: 'verify' as const, reason: errorText(event.error), verification: true }),
                  },
                },
              },
            },
            failed: {
              description:
                'A download, verification or swap failed: report it (once per distinct reason), then back off or, after three failed verifications of this target, park.',
              always: [
                {
                  guard: 'tooManyVerifyFailures',
                  target: 'parked',
                  actions: [
                    'reportFailure',
                    {
                      type: 'recordParked',
                      params: ({ context }) => ({ reason: `${MAX_VERIFY_FAILURES} failed verifications of ${context.target}` }),
                    },
                  ],
                },
                { target: 'backoff', actions: 'reportFailure' },
              ],
            },
            backoff: {
              description: 'Waiting after a failure: 1 s doubling to 300 s (±25 %), then download again.',
              tags: ['degraded'],
              entry: 'drawBackoff',
              exit: 'clearWait',
              after: { wait: 'downloading' },
            },
            awaitingIdle: {
              description:
                'Verified: waiting until no command runs (at most 10 min, then swapping anyway) and this boot is confirmed, so a rollback has a last-good copy.',
              tags: ['busy'],
              invoke: { id: 'waitForIdle', src: 'waitForIdle', input: { pollMs: IDLE_POLL_MS } },
              on: {
                'commands.counted': { actions: 'recordBusy' },
                'commands.drained': { guard: 'bootConfirmed', target: 'swapping', actions: 'recordIdle' },
              },
              after: {
                idleWaitCap: {
                  guard: 'bootConfirmed',
                  target: 'swapping',
                  actions: {
                    type: 'say',
                    params: ({ context }) => ({
                      level: 'warn',
                      msg: `commands still running after ${IDLE_WAIT_CAP_MS / 60_000} min; swapping anyway (they are killed by the shutdown and reported as killed)`,
                      fields: { running: context.status.running_commands, target: context.target },
                    }),
                  },
                },
              },
            },
            swapping: {
              description:
                '§10 step 4: <exe>.new, <exe> kept as <exe>.old, .new renamed over <exe>, last_swap.json; any failure undoes the renames.',
              tags: ['busy'],
              // The swap finishes (or undoes itself) before a new target counts; the next version evaluates it.
              on: { 'target.changed': { actions: 'rememberTarget' } },
              invoke: {
                id: 'swapExecutable',
                src: 'swapExecutable',
                input: ({ context }) => ({ ports: context.ports, target: context.target ?? '', runningVersion: context.runningVersion }),
                onDone: [
                  {
                    guard: { type: 'stepOk', params: ({ event }) => event.output },
                    target: 'exiting',
                    actions: {
                      type: 'say',
                      params: ({ context }) => ({
                        level: 'info',
                        msg: `swapped to ${context.target}; stopping the agent with exit code ${PROCESS_EXIT_SELF_UPDATE} so the service manager starts the new version`,
                        fields: { from: context.runningVersion, to: context.target },
                        obs: { kind: 'agent_update_swapped', payload: { from: context.runningVersion, to: context.target } },
                      }),
                    },
                  },
                  {
                    target: 'failed',
                    actions: {
                      type: 'recordFailure',
                      params: ({ event }) => ({
                        stage: 'swap' as const,
                        reason: event.output.ok ? '' : event.output.reason,
                        verification: false,
                      }),
                    },
                  },
                ],
                onError: {
                  target: 'failed',
                  actions: {
                    type: 'recordFailure',
                    params: ({ event }) => ({ stage: 'swap' as const, reason: errorText(event.error), verification: false }),
                  },
                },
              },
            },
            exiting: {
              description: `Swapped: the root stops the tree gracefully and the process exits ${PROCESS_EXIT_SELF_UPDATE}.`,
              tags: ['busy'],
              entry: 'requestExit',
              on: { 'target.changed': { actions: 'rememberTarget' } },
            },
            parked: {
              description:
                'Stopped trying this target (swap loop, invalid label, or three failed verifications) until target_version changes.',
              tags: ['degraded'],
              entry: {
                type: 'say',
                params: ({ context }) => ({
                  level: 'error',
                  msg: `self-update parked: ${context.status.parked_reason ?? 'unknown reason'}; waiting for target_version to change`,
                  fields: { target: context.target },
                  obs: {
                    kind: 'agent_update_parked',
                    payload: { target: context.target, running: context.runningVersion, reason: context.status.parked_reason },
                  },
                }),
              },
            },
          },
        },
      },
    },
    stopped: {
      type: 'final',
      description: 'Shut down; a download in flight was cancelled and its partial file removed.',
    },
  },
});
