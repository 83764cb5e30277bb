/**
 * Fake children for supervisor tests (spec only): each is a tiny machine taking AgentServices.
 * Crashes are thrown from actions, the way a real child's bug surfaces.
 */
import { pino } from 'pino';
import { setup } from 'xstate';
import { resolveEffectiveConfig } from '../../contract/index.js';
import { createBrokerHub } from '../../actors/broker-hub.js';
import type { AgentConfig } from '../../actors/config/load-config.js';
import { EscalationError } from '../../actors/escalation-error.js';
import { createFailpoints } from '../../actors/failpoints.js';
import { CONFIG_NOT_SYNCED, createLiveValue, readOnlyView, type AgentServices, type RootServices } from '../../actors/ports.js';

/** Services with a silent logger; `failpoints` from a spec string. */
export function fakeServices(failpoints?: string): RootServices {
  const configHubs = {
    effectiveConfig: createLiveValue(resolveEffectiveConfig({ groups: new Map() }, 2).config),
    groups: createLiveValue<readonly string[]>([]),
    configSync: createLiveValue(CONFIG_NOT_SYNCED),
  };
  return {
    config: { pcId: 'test-pc', natsUrls: ['nats://127.0.0.1:1'], dataDir: '/tmp/none' } as unknown as AgentConfig,
    log: pino({ level: 'silent' }),
    agentVersion: '0.0.0-test',
    broker: createBrokerHub(0),
    outboxes: {
      results: { enqueue: async () => undefined },
      events: { enqueue: async () => undefined },
      obs: { enqueue: async () => undefined },
    },
    effectiveConfig: readOnlyView(configHubs.effectiveConfig),
    groups: readOnlyView(configHubs.groups),
    failpoints: createFailpoints(failpoints),
    now: Date.now,
    random: Math.random,
    configHubs,
  };
}

const child = setup({ types: { input: {} as AgentServices, events: {} as { type: 'shutdown' } | { type: 'crash' } } });

/** Runs until `shutdown` (then final at once); `crash` makes it throw. */
export const gracefulChild = child.createMachine({
  id: 'graceful',
  initial: 'running',
  context: { status: { ok: true } },
  states: {
    running: {
      tags: ['healthy'],
      on: {
        shutdown: 'done',
        crash: {
          actions: () => {
            throw new Error('boom');
          },
        },
      },
    },
    done: { type: 'final' },
  },
});

/** Throws on entry every time it starts. */
export const crashAlwaysChild = child.createMachine({
  id: 'crashAlways',
  entry: () => {
    throw new Error('always broken');
  },
});

/** Throws on entry the first `times` starts (shared counter per factory call), then runs like {@link gracefulChild}. */
export function crashTimesChild(times: number) {
  let starts = 0;
  return child.createMachine({
    id: 'crashTimes',
    entry: () => {
      starts += 1;
      if (starts <= times) throw new Error(`crash #${starts}`);
    },
    initial: 'running',
    states: { running: { on: { shutdown: 'done' } }, done: { type: 'final' } },
  });
}

/** Never reacts to `shutdown`: the supervisor must stop it by force after its grace. */
export const ignoresShutdownChild = child.createMachine({ id: 'ignores', initial: 'running', states: { running: {} } });

/** Takes `ms` to shut down (a draining child). */
export function slowShutdownChild(ms: number) {
  return child.createMachine({
    id: 'slow',
    initial: 'running',
    states: {
      running: { on: { shutdown: 'draining' } },
      draining: { tags: ['busy'], after: { [ms]: 'done' } },
      done: { type: 'final' },
    },
  });
}

/** Reaches its final state by itself after `ms` (a normal exit). */
export function exitsNormallyChild(ms: number) {
  return child.createMachine({
    id: 'exits',
    initial: 'running',
    states: { running: { after: { [ms]: 'done' } }, done: { type: 'final' } },
  });
}

/** Throws an EscalationError on `crash` (e.g. credentials refused for good). */
export const escalatingChild = child.createMachine({
  id: 'escalating',
  initial: 'running',
  states: {
    running: {
      on: {
        shutdown: 'done',
        crash: {
          actions: () => {
            throw new EscalationError('credentials refused');
          },
        },
      },
    },
    done: { type: 'final' },
  },
});
