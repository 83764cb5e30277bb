/**
 * Contract §2: authorization refused for 30 s ⇒ the client is dead ⇒ exit 1, so the service
 * manager restarts the process instead of the agent spinning. Takes ≈ 31 s (the contract's window).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsServerHandle } from '../../devtools/dev-broker/nats-server.js';
import { startTokenServer } from '../harness/broker.js';
import { AUTH_REFUSED_GIVE_UP_MS } from '../../contract/index.js';
import { readLastExit } from '../../supervisor/last-exit.js';
import { agentDir, spawnAgent, waitForStatus, connectionRow, type AgentDir } from './agent-process.js';

const TOKEN = 'right-token';
let server: NatsServerHandle;
let dir: AgentDir;

beforeAll(async () => {
  server = await startTokenServer(TOKEN);
  dir = await agentDir([server.url], 'auth-escalation-pc');
});
afterAll(async () => {
  await server?.cleanup();
  await dir?.remove();
});

describe('credentials refused', () => {
  it(
    `shows the refusal in status, then exits 1 after ${AUTH_REFUSED_GIVE_UP_MS} ms with one fatal line`,
    async () => {
      const agent = spawnAgent(dir, { KANADE_NATS_TOKEN: 'wrong-token', KANADE_NATS_USER: 'nobody', KANADE_NATS_PASSWORD: 'nothing' });
      try {
        const refused = await waitForStatus(
          dir.socket,
          'auth refusal reported',
          (r) => (connectionRow(r).status as { auth_refused_since: string | null } | null)?.auth_refused_since != null,
        );
        expect(refused.connection.connected).toBe(false);
        expect(refused.health).toBe('degraded');
        const exit = await agent.exited;
        expect(exit.code).toBe(1);
        expect(exit.stdout).toContain('NATS authorization refused for the KANADE_NATS_USER/KANADE_NATS_PASSWORD credentials');
        expect(exit.stdout).toContain('NATS authorization refused for the KANADE_NATS_TOKEN credentials');
        // Rate-limited: one line per credential per 10 s, not one per attempt.
        expect(exit.stdout.split('NATS authorization refused for the').length - 1).toBeLessThanOrEqual(8);
        const fatal = exit.stdout.split('\n').filter((line) => line.includes('"level":"fatal"'));
        expect(fatal).toHaveLength(1);
        expect(fatal[0]).toContain('supervisor gave up on child connection: escalated: EscalationError: authorization refused');
        expect(await readLastExit(dir.dataDir)).toMatchObject({ reason: 'gave_up', exit_code: 1 });
      } finally {
        agent.kill('SIGKILL');
      }
    },
    AUTH_REFUSED_GIVE_UP_MS + 30_000,
  );
});
