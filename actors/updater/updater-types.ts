/**
 * The updater's port and the inputs/outputs of its effects: the contract between the pure
 * `updaterMachine` (machines/) and the effect actors here. Types only, so the machine imports
 * nothing that does I/O.
 */
import type { Logger } from 'pino';
import type { EffectiveConfig, LastSwap, ObsEvent } from '../../contract/index.js';
import type { Failpoints } from '../failpoints.js';
import type { BrokerPort, LivePort, OutboxPort } from '../ports.js';

/** The running executable, when the agent runs as one (a Node single executable). */
export interface SelfExecutable {
  /** Absolute path (`process.execPath`). */
  readonly path: string;
  /** File name without a Windows `.exe`: the `<exe-stem>` of `staging/<exe-stem>.<V>.staged`. */
  readonly stem: string;
}

/** What the updater's effects may use; the narrowest view of AgentServices it needs. */
export interface UpdaterPorts {
  readonly log: Logger;
  readonly pcId: string;
  readonly dataDir: string;
  /** Null when not a single executable (e.g. `node dist/bin/kanade-agent.js`): self-update is off. */
  readonly exe: SelfExecutable | null;
  /** `process.platform` / `process.arch`, for the `agent_releases` key (§4). */
  readonly platform: string;
  readonly arch: string;
  readonly broker: BrokerPort;
  readonly effectiveConfig: LivePort<EffectiveConfig>;
  readonly obs: OutboxPort<ObsEvent>;
  readonly failpoints: Failpoints;
}

/** Input of the `updater` child: its port plus what the root injects (time and randomness as data). */
export interface UpdaterInput {
  readonly ports: UpdaterPorts;
  readonly runningVersion: string;
  /** Seed of the machine's pure random sequence (drawn by the root from its injected `random`). */
  readonly seed: number;
  /** Epoch ms when the child started (the root's injected `now`). */
  readonly startedAt: number;
}

/** Output of `loadInstall`: whether self-update can work here, and the persisted state. */
export type InstallState =
  | {
      readonly supported: true;
      readonly quarantined: readonly string[];
      /** `last_swap.json`, or null (absent, unreadable, or cleared because that swap succeeded). */
      readonly lastSwap: LastSwap | null;
    }
  | { readonly supported: false; readonly reason: string; readonly quarantined: readonly string[] };

/** Input of the download, verification and swap effects. */
export interface ReleaseJob {
  readonly ports: UpdaterPorts;
  readonly target: string;
  readonly runningVersion: string;
  /** The object's digest as downloaded (`SHA-256=<base64url>`), for verification. */
  readonly digest?: string;
}

/** Why a download did not produce a staged file. */
export type DownloadFailureKind =
  /** Store `agent_releases` or the object is absent: wait (§4), never a failure. */
  | 'absent'
  /** Not connected: wait for the broker. */
  | 'unavailable'
  /** The bytes do not match the object's digest: counts as a failed verification. */
  | 'digest_mismatch'
  /** Anything else (disk, space, transfer): a failure, retried with backoff. */
  | 'error';

/** Events the download effect sends back. */
export type DownloadEvent =
  | { readonly type: 'download.progressed'; readonly bytes: number; readonly total: number }
  | { readonly type: 'download.finished'; readonly bytes: number; readonly digest: string }
  | { readonly type: 'download.failed'; readonly kind: DownloadFailureKind; readonly reason: string };

/** Outcome of verification or of a swap: a refusal is a value, never a rejection. */
export type StepOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Events the idle watcher sends back. */
export type IdleEvent = { readonly type: 'commands.drained' } | { readonly type: 'commands.counted'; readonly running: number };

/** Events the target watcher sends back. */
export type TargetEvent = { readonly type: 'target.changed'; readonly target: string | null; readonly jitterMs: number };

/** One log line and, optionally, one obs event (`agent_update_*`): the updater's only way to speak. */
export interface UpdaterReport {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly obs?: { readonly kind: UpdateObsKind; readonly payload: Readonly<Record<string, unknown>> };
}

/** Obs kinds of self-update (docs/updater.md). */
export type UpdateObsKind =
  | 'agent_update_started'
  | 'agent_update_verified'
  | 'agent_update_swapped'
  | 'agent_update_rolled_back'
  | 'agent_update_parked'
  | 'agent_update_failed';
