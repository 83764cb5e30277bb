/**
 * Builds the {@link RootServices} the supervisor holds: the {@link AgentServices} every child
 * receives as `input` (the broker hub, read-only views of the effective config and groups —
 * defaults until the `config` child reads the KV —, failpoints from the environment and the
 * outboxes) plus the write side of the config hubs (effective config, groups, whether the KV was
 * read yet), which only the `config` child gets.
 */
import os from 'node:os';
import type { Logger } from 'pino';
import { resolveEffectiveConfig, type EffectiveConfig } from '../contract/index.js';
import { createBrokerHub } from '../actors/broker-hub.js';
import type { AgentConfig } from '../actors/config/load-config.js';
import { createFailpoints } from '../actors/failpoints.js';
import { CONFIG_NOT_SYNCED, createLiveValue, readOnlyView, type ConfigHubs, type RootServices } from '../actors/ports.js';
import { createOutboxes } from '../actors/outbox/create-outboxes.js';

/** Options of {@link createAgentServices}; the environment is injectable for tests. */
export interface CreateAgentServicesOptions {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly agentVersion: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Builds the services of one agent process. Failpoint parse errors are logged at warn. */
export function createAgentServices(opts: CreateAgentServicesOptions): RootServices {
  const env = opts.env ?? process.env;
  const failpoints = createFailpoints(env['KANADE_FAILPOINTS']);
  for (const error of failpoints.errors) opts.log.warn(error);
  if (failpoints.armed.size > 0) opts.log.warn({ failpoints: Object.fromEntries(failpoints.armed) }, 'failpoints armed (tests only)');
  const defaults: EffectiveConfig = resolveEffectiveConfig({ groups: new Map() }, os.availableParallelism()).config;
  const configHubs: ConfigHubs = {
    effectiveConfig: createLiveValue(defaults),
    groups: createLiveValue<readonly string[]>([]),
    configSync: createLiveValue(CONFIG_NOT_SYNCED),
  };
  return {
    config: opts.config,
    log: opts.log,
    agentVersion: opts.agentVersion,
    broker: createBrokerHub(),
    outboxes: createOutboxes(opts.config.dataDir, opts.config.pcId, opts.log),
    effectiveConfig: readOnlyView(configHubs.effectiveConfig),
    groups: readOnlyView(configHubs.groups),
    failpoints,
    now: Date.now,
    random: Math.random,
    configHubs,
  };
}
