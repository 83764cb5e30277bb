/**
 * Reads and follows the KV the `config` child resolves (contract §5.6): walks `agent_config`
 * (`keys()` + get) and this PC's key in `agent_groups` / `agent_groups_derived`, then watches all of
 * `agent_config` and key `<pc_id>` in both group buckets. Every entry goes to the machine as a
 * `kv.entryReceived` event; the machine skips replays by revision, so the overlap between the walk and the
 * watch's initial values is harmless.
 *
 * The agent never creates these buckets (§4): a missing bucket is reported as `kv.failed` with
 * `missing: true` and the machine waits and retries.
 *
 * @example
 * invoke: { id: 'watchKvConfig', src: 'watchKvConfig', input: ({ context }) => ({ broker: context.services.broker, pcId, log, failpoints }) }
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { fromCallback } from 'xstate';
import { KV_AGENT_CONFIG, KV_AGENT_GROUPS, KV_AGENT_GROUPS_DERIVED } from '../../contract/index.js';
import { isRelevantConfigKey, type KvEntryEvent, type LayerBucket } from '../../domain/config-layers.js';
import type { Failpoints } from '../failpoints.js';
import type { BrokerPort } from '../ports.js';

/** Failpoint hit before each boot walk (`sleep<ms>` makes the KV read slow, `throw` makes it fail) — process tests only. */
export const KV_WALK_FAILPOINT = 'config.kv_walk';

/** Input of {@link watchKvConfig}. */
export interface WatchKvConfigInput {
  /** The broker hub: the walk and the watches use its connection as of the start (the machine holds none). */
  readonly broker: BrokerPort;
  readonly pcId: string;
  readonly log: Logger;
  readonly failpoints: Failpoints;
}

/** Events sent by {@link watchKvConfig}. */
export type KvConfigEvent =
  | { readonly type: 'kv.entryReceived'; readonly entry: KvEntryEvent }
  | { readonly type: 'kv.synced' }
  | { readonly type: 'kv.failed'; readonly reason: string; readonly missing: boolean };

const BUCKETS: ReadonlyArray<readonly [LayerBucket, string]> = [
  ['config', KV_AGENT_CONFIG],
  ['groups', KV_AGENT_GROUPS],
  ['groups_derived', KV_AGENT_GROUPS_DERIVED],
];

const decoder = new TextDecoder();

function toEvent(bucket: LayerBucket, entry: KvEntry): KvEntryEvent {
  return {
    bucket,
    key: entry.key,
    revision: entry.revision,
    operation: entry.operation === 'DEL' || entry.operation === 'PURGE' ? entry.operation : 'PUT',
    value: entry.operation === 'PUT' ? decoder.decode(entry.value) : '',
  };
}

/** True when `err` says the bucket's backing stream does not exist (yet). */
export function isMissingBucket(err: unknown): boolean {
  if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return true;
  const message = err instanceof Error ? err.message : String(err);
  return /stream not found|no responders/i.test(message);
}

/** Walks, then watches; stops every watcher when the invoking state is left. */
export const watchKvConfig = fromCallback<{ type: string }, WatchKvConfigInput>(({ input, sendBack }) => {
  const { pcId } = input;
  const broker = input.broker.state();
  const nc: NatsConnection | undefined = broker.connected ? broker.nc : undefined;
  let stopped = false;
  const watchers: Array<{ stop(): void }> = [];
  const send = (event: KvConfigEvent): void => {
    if (!stopped) sendBack(event);
  };

  const run = async (): Promise<void> => {
    // Started only while connected; a hub that went down meanwhile is a failure to retry.
    if (nc === undefined) throw new Error('broker not connected');
    await input.failpoints.hit(KV_WALK_FAILPOINT);
    const kvm = new Kvm(nc);
    // Direct Get is what the backend's `agent` role grants for KV reads (§3); binding never creates.
    const opened: Array<readonly [LayerBucket, KV]> = [];
    for (const [bucket, name] of BUCKETS) opened.push([bucket, await kvm.open(name, { allow_direct: true })]);
    const [configKv] = opened;
    if (!configKv) return;

    const keys: string[] = [];
    for await (const key of await configKv[1].keys()) if (isRelevantConfigKey(key, pcId)) keys.push(key);
    // A get that fails (e.g. Direct Get not answered) is not fatal: the watch below starts with
    // every key's current value, so the entry still arrives; a missing bucket fails the watch.
    const get = async (bucket: LayerBucket, kv: KV, key: string): Promise<void> => {
      try {
        const entry = await kv.get(key);
        if (entry) send({ type: 'kv.entryReceived', entry: toEvent(bucket, entry) });
      } catch (err) {
        input.log.warn(
          { child: 'config', bucket, key, err: errorText(err) },
          'KV get failed during the boot walk; the watch will deliver the value',
        );
      }
    };
    // Concurrent: on a bucket without Direct Get every get times out, and they should do so together.
    await Promise.all([
      ...keys.map((key) => get('config', configKv[1], key)),
      ...opened.slice(1).map(([bucket, kv]) => get(bucket, kv, pcId)),
    ]);
    send({ type: 'kv.synced' });

    for (const [bucket, kv] of opened) {
      if (stopped) return;
      const iter = await kv.watch({ key: bucket === 'config' ? '>' : pcId });
      watchers.push(iter);
      if (stopped) iter.stop();
      void (async () => {
        for await (const entry of iter) send({ type: 'kv.entryReceived', entry: toEvent(bucket, entry) });
        send({
          type: 'kv.failed',
          reason: `watch on ${bucket === 'config' ? KV_AGENT_CONFIG : bucket === 'groups' ? KV_AGENT_GROUPS : KV_AGENT_GROUPS_DERIVED} ended`,
          missing: false,
        });
      })().catch((err: unknown) => send({ type: 'kv.failed', reason: errorText(err), missing: isMissingBucket(err) }));
    }
  };

  run().catch((err: unknown) => send({ type: 'kv.failed', reason: errorText(err), missing: isMissingBucket(err) }));
  return () => {
    stopped = true;
    for (const watcher of watchers) watcher.stop();
  };
});

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
