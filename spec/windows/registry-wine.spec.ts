/**
 * Issue #18, under Wine: what Windows installers put in the registry, read by the agent as Windows
 * code with `reg query`. The broker requires a token that only `HKLM\SOFTWARE\kanade\agent\NatsToken`
 * holds; `CommandKeys` (REG_SZ keyring) plus `RequireSignedCommands` (REG_DWORD 1) make the agent
 * refuse an unsigned command (123) and run a signed one. Then `kanade-agent status` over the named
 * pipe, and a result queued in the outbox while the broker is down survives a kill of the agent
 * and is delivered after the restart.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand, type SigningKey } from '../../actors/command-publisher.js';
import { bootstrapBackendResources } from '../../devtools/dev-broker/bootstrap.js';
import { pickFreePort, startNatsServer, type NatsServerHandle } from '../../devtools/dev-broker/nats-server.js';
import { generateCommandKey } from '../../actors/ed25519.js';
import { decodeExecResult, decodeHeartbeat, subjects, type ExecResult } from '../../contract/index.js';
import {
  agentArgv,
  createWinePrefix,
  pollUntil,
  spawnWindowsAgent,
  stopWindowsAgent,
  writeDefaultConfig,
  type WinePrefix,
  type WineProcess,
} from './wine.js';

const PC = 'wine-pc-reg';
const TOKEN = `wine-token-${process.pid}`;
const KEY_ROOT = 'HKLM\\SOFTWARE\\kanade\\agent';
const WINE_TEST_TIMEOUT_MS = 180_000;

describe('registry, named pipe and outbox of the Windows agent under Wine', { timeout: WINE_TEST_TIMEOUT_MS }, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let wine: WinePrefix;
  let agent: WineProcess | undefined;
  const key = generateCommandKey();
  const signer: SigningKey = { privateKey: key.privateKey, kid: 'wine-1' };
  const beats: unknown[] = [];

  const connectWithToken = () =>
    pollUntil(
      'the token-protected broker',
      20_000,
      () => connect({ servers: server.url, token: TOKEN, maxReconnectAttempts: -1, reconnectTimeWait: 100 }),
      200,
    );
  const results = async (requestId: string): Promise<ExecResult[]> => {
    const msg = await jsm.streams.getMessage('RESULTS', { last_by_subj: subjects.results(requestId) }).catch(() => null);
    if (msg === null) return [];
    const decoded = decodeExecResult(msg.data);
    return decoded.ok ? [decoded.value] : [];
  };
  const resultOf = (requestId: string, timeoutMs = 90_000) =>
    pollUntil(`the result of ${requestId}`, timeoutMs, async () => (await results(requestId))[0], 250);
  const startAgent = async () => {
    agent = await spawnWindowsAgent(wine);
    const beat = await pollUntil(
      'a heartbeat (authenticated with the registry token)',
      120_000,
      async () => {
        const m = await jsm.streams.getMessage('OBS_EVENTS', { last_by_subj: subjects.obs(PC) }).catch(() => null);
        return m ?? undefined;
      },
      500,
    ).catch(async (error) => {
      const out = await agent!.output();
      throw new Error(`${(error as Error).message}\n${out.stdout.slice(-3_000)}\n${out.stderr.slice(-3_000)}`);
    });
    return beat;
  };

  beforeAll(async () => {
    const created = await Promise.all([
      startNatsServer({ port: await pickFreePort(), args: ['--auth', TOKEN], skipReadyWait: true }),
      createWinePrefix(),
    ]);
    [server, wine] = created;
    nc = await connectWithToken();
    nc.subscribe(subjects.heartbeat(PC), {
      callback: (_err, msg) => {
        const decoded = decodeHeartbeat(msg.data);
        if (decoded.ok) beats.push(decoded.value);
      },
    });
    await bootstrapBackendResources(nc);
    jsm = await jetstreamManager(nc);
    await writeDefaultConfig(wine, PC, server.url);
    const ring = JSON.stringify([{ kid: 'wine-1', public_key: key.publicKeyBase64 }]);
    for (const [name, type, data] of [
      ['NatsToken', 'REG_SZ', TOKEN],
      ['CommandKeys', 'REG_SZ', ring],
      ['RequireSignedCommands', 'REG_DWORD', '1'],
    ]) {
      const r = await wine.run(['reg', 'add', KEY_ROOT, '/v', name as string, '/t', type as string, '/d', data as string, '/f']);
      expect(r.code, `reg add ${name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    await startAgent();
  }, 300_000);
  afterAll(async () => {
    await stopWindowsAgent(agent);
    await nc?.close();
    await server?.cleanup();
    await wine?.destroy();
  });

  it('authenticated with NatsToken from the registry (KANADE_NATS_TOKEN unset) and beats as windows', async () => {
    const beat = await pollUntil('a heartbeat', 60_000, () => beats[0], 200);
    expect(beat).toMatchObject({ pc_id: PC, os_family: 'windows' });
  });

  it('CommandKeys + RequireSignedCommands=1: unsigned is refused with 123, signed runs', async () => {
    const unsigned = draftCommand({ shell: 'cmd', script: 'echo should-not-run' });
    await publishCommand(nc, subjects.commandsPc(PC), commandBytes(unsigned));
    const signed = draftCommand({ shell: 'cmd', script: 'echo signed-ran' });
    await publishCommand(nc, subjects.commandsPc(PC), commandBytes(signed), signer);
    expect(await resultOf(unsigned.request_id)).toMatchObject({ exit_code: 123, stdout: '' });
    const ran = await resultOf(signed.request_id);
    expect(ran).toMatchObject({ exit_code: 0 });
    expect(ran.stdout.trim()).toBe('signed-ran');
  });

  it('`kanade-agent status` answers over \\\\.\\pipe\\kanade-agent', async () => {
    const r = await wine.run(await agentArgv(['status', '--json']));
    expect(r.code, r.stderr.slice(-2_000)).toBe(0);
    const report = JSON.parse(r.stdout) as { pc_id?: string; children?: Array<{ id: string }> };
    expect(report.children?.map((c) => c.id)).toContain('executor');
  });

  it('a result queued while the broker is down survives a kill of the agent and is delivered after restart', async () => {
    const cmd = draftCommand({ shell: 'cmd', script: 'ping -n 4 127.0.0.1 >nul & echo after-outage' });
    await publishCommand(nc, subjects.commandsPc(PC), commandBytes(cmd), signer);
    const dataDir = wine.linuxPath('C:\\ProgramData\\Kanade\\data');
    // Wait until the run is under way (its ledger record exists), then take the broker away.
    await pollUntil(
      'the command admitted',
      60_000,
      async () => {
        return (await readdir(`${dataDir}/admission`).catch(() => [] as string[])).some((f) => f.startsWith(cmd.request_id));
      },
      250,
    );
    await server.stop();
    await pollUntil(
      'the result in the results outbox on disk',
      60_000,
      async () => {
        return (await readdir(`${dataDir}/outbox`).catch(() => [] as string[])).some((f) => f.endsWith('.json'));
      },
      250,
    );
    agent!.kill('SIGKILL');
    await agent!.exited;
    agent = undefined;
    // The server's own readiness probe has no token: wait for readiness with the token instead.
    void server.restart().catch(() => undefined);
    await startAgent();
    const result = await resultOf(cmd.request_id);
    expect(result).toMatchObject({ exit_code: 0 });
    expect(result.stdout.trim()).toBe('after-outage');
  });
});
