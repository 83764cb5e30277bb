/**
 * The natsConnection actor against a real nats-server that requires a token: the user credentials
 * are presented first (contract §2), refused, and the token is used as the fallback.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createActor, waitFor } from 'xstate';
import type { NatsServerHandle } from '../../devtools/dev-broker/nats-server.js';
import { startTokenServer } from '../harness/broker.js';
import type { AgentConfig } from '../../actors/config/load-config.js';
import { connectionLogic } from '../../supervisor/children.js';
import { fakeServices } from './fake-children.js';

const TOKEN = 's3cret-token';
let server: NatsServerHandle;

beforeAll(async () => {
  process.env['KANADE_NATS_RECONNECT_WAIT_MS'] = '100';
  server = await startTokenServer(TOKEN);
});
afterAll(async () => {
  await server?.cleanup();
});

describe('natsConnection actor (real server with token auth)', () => {
  it('presents the user first, falls back to the token when refused, and writes the broker hub', async () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write: (chunk, _enc, cb) => {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const base = fakeServices();
    const config = {
      ...base.config,
      pcId: 'auth-pc',
      natsUrls: [server.url],
      credentials: { user: 'someone', password: 'wrong', token: TOKEN },
    } as unknown as AgentConfig;
    const services = { ...base, config, log };
    const actor = createActor(connectionLogic, { input: services });
    actor.start();
    try {
      await waitFor(actor, (s) => s.matches({ live: 'connected' }), { timeout: 15_000 });
      const state = services.broker.state();
      expect(state.connected).toBe(true);
      expect(actor.getSnapshot().context.status.auth_refused_since).toBeNull();
      expect(lines.some((l) => l.includes('NATS authorization refused for the KANADE_NATS_USER/KANADE_NATS_PASSWORD credentials'))).toBe(
        true,
      );
      expect(lines.some((l) => l.includes('connected to NATS'))).toBe(true);
      actor.send({ type: 'shutdown' });
      await waitFor(actor, (s) => s.status === 'done', { timeout: 5_000 });
      expect(services.broker.state().connected).toBe(false);
    } finally {
      actor.stop();
    }
  });
});
