/**
 * AgentServices for child-level tests: a real broker connection behind a settable BrokerPort,
 * createLiveValue hubs, recording outboxes and a pino logger whose lines the test can read.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EffectiveConfig, EventStarted, ExecResult, ObsEvent } from '../../contract/index.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_TARGET_VERSION_JITTER_MS } from '../../contract/index.js';
import type { AgentConfig } from '../../actors/config/load-config.js';
import { NO_FAILPOINTS, type Failpoints } from '../../actors/failpoints.js';
import {
  CONFIG_NOT_SYNCED,
  createLiveValue,
  type ConfigServices,
  type ConfigSyncState,
  type BrokerState,
  type OutboxPort,
} from '../../actors/ports.js';
import { pollUntil } from '../harness/poll.js';

/** A BrokerPort the test drives. */
export interface TestBroker {
  state(): BrokerState;
  watch(listener: (state: BrokerState) => void): () => void;
  connected(nc: NatsConnection): void;
  disconnected(): void;
}

/** Creates a BrokerPort that starts disconnected. */
export function createTestBroker(): TestBroker {
  const hub = createLiveValue<BrokerState>({ connected: false, since: Date.now(), everConnected: false });
  return {
    state: hub.current,
    watch: hub.watch,
    connected: (nc) => hub.set({ connected: true, nc, server: 'test', since: Date.now() }),
    disconnected: () => hub.set({ connected: false, since: Date.now(), everConnected: true }),
  };
}

/** An outbox that records what was enqueued (and can be made to fail). */
export interface RecordingOutbox<T> extends OutboxPort<T> {
  readonly messages: T[];
  failNext: number;
}

function recordingOutbox<T>(): RecordingOutbox<T> {
  const outbox: RecordingOutbox<T> = {
    messages: [],
    failNext: 0,
    async enqueue(message) {
      if (outbox.failNext > 0) {
        outbox.failNext -= 1;
        throw new Error('disk full (test)');
      }
      outbox.messages.push(message);
    },
  };
  return outbox;
}

/** The defaults the config child starts from, as the supervisor will seed the hub. */
export function defaultEffectiveConfig(cpuCount = 2): EffectiveConfig {
  return {
    max_local_concurrent: cpuCount,
    heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
    target_version: null,
    target_version_jitter_ms: DEFAULT_TARGET_VERSION_JITTER_MS,
  };
}

/** A minimal AgentConfig for `pcId`. */
export function testAgentConfig(pcId: string, overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    configPath: '/dev/null',
    pcId,
    natsUrls: ['nats://127.0.0.1:4222'],
    dataDir: '/tmp/kanade-test',
    log: { level: 'debug', keepDays: 0 },
    security: { commandKeysFile: '/nonexistent/command-keys.json', requireSignedCommands: false },
    control: { socket: '/tmp/kanade-test/agent.sock' },
    inventory: { enabled: true, intervalMs: 24 * 3_600_000, jitterMs: 600_000 },
    credentials: {},
    deprecatedGroups: false,
    warnings: [],
    ...overrides,
  };
}

/** Everything a child test needs, plus handles to drive and inspect it. */
export interface TestServices {
  /** Writable hubs: the test plays the `config` child, their one writer. */
  services: ConfigServices;
  broker: TestBroker;
  obs: RecordingOutbox<ObsEvent>;
  /** Parsed log lines so far. */
  logs: Array<{ level: number; msg: string; [key: string]: unknown }>;
}

/** Builds AgentServices for one child test. */
export function createTestServices(
  pcId: string,
  opts: {
    config?: Partial<AgentConfig>;
    failpoints?: Failpoints;
    now?: () => number;
    random?: () => number;
    /** The `configSync` hub's first value (default: not synced, as at agent start). */
    configSync?: ConfigSyncState;
  } = {},
): TestServices {
  const logs: TestServices['logs'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const broker = createTestBroker();
  const obs = recordingOutbox<ObsEvent>();
  const services: ConfigServices = {
    config: testAgentConfig(pcId, opts.config),
    log: pino({ level: 'debug' }, sink),
    agentVersion: '0.1.0-test',
    broker,
    outboxes: { results: recordingOutbox<ExecResult>(), events: recordingOutbox<EventStarted>(), obs },
    effectiveConfig: createLiveValue(defaultEffectiveConfig()),
    groups: createLiveValue<readonly string[]>([]),
    configSync: createLiveValue(opts.configSync ?? CONFIG_NOT_SYNCED),
    failpoints: opts.failpoints ?? NO_FAILPOINTS,
    now: opts.now ?? Date.now,
    random: opts.random ?? Math.random,
  };
  return { services, broker, obs, logs };
}

export { pollUntil };
