/**
 * Shared pieces of the outbox specs: realistic messages, a services bundle around a real broker
 * connection, and a reader that pulls every message of a stream to check delivery.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { createBrokerHub, type BrokerHub } from '../../actors/broker-hub.js';
import type { AgentConfig } from '../../actors/config/load-config.js';
import { NO_FAILPOINTS } from '../../actors/failpoints.js';
import { uuidV4 } from '../../actors/ids.js';
import { createLiveValue, type AgentServices } from '../../actors/ports.js';
import { createOutbox, createOutboxes, type DrainableOutboxes } from '../../actors/outbox/create-outboxes.js';
import type { EffectiveConfig, ExecResult } from '../../contract/index.js';
import { pollUntil } from '../harness/poll.js';

/** A silent logger (set OUTBOX_TEST_LOG=debug to see the drain). */
export const testLog: Logger = pino({ level: process.env['OUTBOX_TEST_LOG'] ?? 'silent' });

/** A realistic ExecResult: a few hundred bytes of output, fresh ids. */
export function sampleResult(overrides: Partial<ExecResult> = {}): ExecResult {
  return {
    result_id: uuidV4(),
    request_id: uuidV4(),
    pc_id: 'PC-TEST',
    manifest_id: 'inventory-check',
    exit_code: 0,
    skipped: false,
    stdout: 'Name      Version\n----      -------\nagent     1.2.3\n'.repeat(8),
    stderr: '',
    started_at: '2026-11-27T05:00:00.000Z',
    finished_at: '2026-11-27T05:00:01.250Z',
    ...overrides,
  };
}

/** A temp data dir removed by the returned cleanup. */
export async function tempDataDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kanade-outbox-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A results outbox in a fresh temp data dir (removed by a cleanup pushed onto `cleanups`), and its
 * message files, sorted.
 */
export async function tempResultsOutbox(cleanups: Array<() => Promise<void>>) {
  const data = await tempDataDir();
  cleanups.push(data.cleanup);
  const dir = path.join(data.dir, 'outbox');
  const outbox = createOutbox('results', dir, testLog);
  const files = async () => (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  return { dir, outbox, files };
}

/** AgentServices with real outboxes under `dataDir` and a broker hub the test drives. */
export function outboxServices(dataDir: string): { services: AgentServices; hub: BrokerHub; outboxes: DrainableOutboxes } {
  const hub = createBrokerHub();
  const outboxes = createOutboxes(dataDir, 'PC-TEST', testLog);
  const config = { pcId: 'PC-TEST', dataDir } as unknown as AgentConfig;
  const services: AgentServices = {
    config,
    log: testLog,
    agentVersion: '0.0.0-test',
    broker: hub,
    outboxes,
    effectiveConfig: createLiveValue({} as EffectiveConfig),
    groups: createLiveValue<readonly string[]>([]),
    failpoints: NO_FAILPOINTS,
    now: Date.now,
    random: Math.random,
  };
  return { services, hub, outboxes };
}

/** Every message of `stream` as [subject, body text], read with an ephemeral ordered consumer. */
export async function readStream(nc: NatsConnection, stream: string): Promise<Array<{ subject: string; body: string }>> {
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const total = info.state.messages;
  const out: Array<{ subject: string; body: string }> = [];
  if (total === 0) return out;
  const js = jsm.jetstream();
  const ci = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: 30_000_000_000,
  });
  const consumer = await js.consumers.get(stream, ci.name);
  const iter = await consumer.fetch({ max_messages: total, expires: 10_000 });
  for await (const m of iter) {
    out.push({ subject: m.subject, body: m.string() });
    if (out.length >= total) break;
  }
  await jsm.consumers.delete(stream, ci.name).catch(() => undefined);
  return out;
}

/** Waits until `check` holds (the outbox specs' argument order for {@link pollUntil}). */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  await pollUntil(what, timeoutMs, check, 50);
}

/** Groups stream bodies by result_id: how many ids, how many duplicates, whether copies are identical. */
export function tallyResults(messages: ReadonlyArray<{ body: string }>): { ids: Set<string>; duplicates: number; identical: boolean } {
  const seen = new Map<string, string>();
  let duplicates = 0;
  let identical = true;
  for (const { body } of messages) {
    const id = (JSON.parse(body) as { result_id: string }).result_id;
    const previous = seen.get(id);
    if (previous === undefined) seen.set(id, body);
    else {
      duplicates += 1;
      if (previous !== body) identical = false;
    }
  }
  return { ids: new Set(seen.keys()), duplicates, identical };
}
