/**
 * The `updater` machine with `.provide()` fakes and a SimulatedClock: every effect is a recording
 * fake the test drives (download events, verification and swap outcomes, idle/busy polls), the
 * target comes from a real LivePort through the real `watchTarget`, the broker through the real
 * `watchBroker`, and reports and the exit request are collected.
 */
import { createActor, fromCallback, fromPromise, SimulatedClock, type EventObject } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LastSwap } from '../../contract/index.js';
import { watchBroker } from '../../actors/kv-config/watch-broker.js';
import { watchTarget } from '../../actors/updater/watch-target.js';
import type {
  DownloadEvent,
  IdleEvent,
  InstallState,
  ReleaseJob,
  StepOutcome,
  UpdaterPorts,
  UpdaterReport,
} from '../../actors/updater/updater-types.js';
import { updaterMachine, type ExitRequest } from '../../machines/updater-machine.js';
import { createTestServices, defaultEffectiveConfig } from '../config-kv/test-services.js';
import { updaterInput } from '../../actors/updater/updater-effects.js';

/** Lets resolved promises (fake effects) reach the machine. */
export const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setTimeout(resolve, 0));
};

export interface HarnessOptions {
  readonly running?: string;
  readonly install?: InstallState;
  readonly seed?: number;
  readonly connected?: boolean;
}

/** Builds and starts an updater under test. */
export function startUpdater(opts: HarnessOptions = {}) {
  const t = createTestServices('PC-updater');
  if (opts.connected !== false) t.broker.connected({} as NatsConnection);
  const clock = new SimulatedClock();
  const reports: UpdaterReport[] = [];
  const exits: ExitRequest[] = [];
  const downloads: ReleaseJob[] = [];
  const verifications: ReleaseJob[] = [];
  const swaps: ReleaseJob[] = [];
  let cancelledDownloads = 0;
  let confirms = 0;
  let downloadSend: ((event: EventObject) => void) | undefined;
  let idleSend: ((event: EventObject) => void) | undefined;
  const verifyOutcomes: StepOutcome[] = [];
  const swapOutcomes: StepOutcome[] = [];

  const install: InstallState = opts.install ?? { supported: true, quarantined: [], lastSwap: null };
  const logic = updaterMachine.provide({
    actors: {
      loadInstall: fromPromise(async () => install),
      watchTarget,
      watchBroker,
      downloadRelease: fromCallback<EventObject, ReleaseJob>(({ input, sendBack }) => {
        downloads.push(input);
        downloadSend = sendBack;
        return () => {
          cancelledDownloads += 1;
          downloadSend = undefined;
        };
      }),
      verifyRelease: fromPromise<StepOutcome, ReleaseJob>(async ({ input }) => {
        verifications.push(input);
        return verifyOutcomes.shift() ?? { ok: true };
      }),
      waitForIdle: fromCallback<EventObject, { readonly pollMs: number }>(({ sendBack }) => {
        idleSend = sendBack;
        return () => {
          idleSend = undefined;
        };
      }),
      swapExecutable: fromPromise<StepOutcome, ReleaseJob>(async ({ input }) => {
        swaps.push(input);
        return swapOutcomes.shift() ?? { ok: true };
      }),
      confirmBoot: fromPromise(async () => {
        confirms += 1;
      }),
      report: fromPromise<void, { readonly ports: UpdaterPorts; readonly report: UpdaterReport }>(async ({ input }) => {
        reports.push(input.report);
      }),
    },
    actions: {
      requestExit: ({ context }) => {
        exits.push({ type: 'exit', code: 64, child: 'updater', reason: `to ${context.target}` });
      },
    },
  });
  const input = { ...updaterInput(t.services, { now: 0, random: 0 }), runningVersion: opts.running ?? '1.0.0', seed: opts.seed ?? 42 };
  const actor = createActor(logic, { input, clock }).start();

  const setTarget = (target: string | null, jitterMs = 0): void => {
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), target_version: target, target_version_jitter_ms: jitterMs });
  };
  const update = (): string => {
    const value = actor.getSnapshot().value as { running?: { update?: string } } | string;
    return typeof value === 'string' ? value : (value.running?.update ?? '?');
  };
  const boot = (): string => {
    const value = actor.getSnapshot().value as { running?: { boot?: string } } | string;
    return typeof value === 'string' ? value : (value.running?.boot ?? '?');
  };
  return {
    t,
    clock,
    actor,
    reports,
    exits,
    downloads,
    verifications,
    swaps,
    verifyOutcomes,
    swapOutcomes,
    setTarget,
    update,
    boot,
    status: () => actor.getSnapshot().context.status,
    obsKinds: () => reports.flatMap((r) => (r.obs ? [r.obs.kind] : [])),
    cancelledDownloads: () => cancelledDownloads,
    confirms: () => confirms,
    /** Sends an event as the running download actor. */
    download: (event: DownloadEvent) => {
      if (downloadSend === undefined) throw new Error('no download running');
      downloadSend(event);
    },
    idle: (event: IdleEvent) => {
      if (idleSend === undefined) throw new Error('not waiting for idle');
      idleSend(event);
    },
    lastSwapFor: (target: string, before: string): LastSwap => ({ target, running_before: before }),
  };
}
