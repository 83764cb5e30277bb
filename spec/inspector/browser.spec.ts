/**
 * End to end in a real browser: the real agent (`kanade-agent run --inspect`) against the harness
 * broker, Debian's chromium driven by playwright-core, and the page asserted as a user sees it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickFreePort } from '../../devtools/dev-broker/nats-server.js';
import { installHint, locate, TOOLS } from '../../scripts/ensure-tools.mjs';
import type { ActorView } from '../../devtools/inspector/inspection-hub.js';
import { spawnCli } from '../cli/run-cli.js';
import { agentBinary } from '../harness/agent-binary.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { agentDir, pollUntil, TEST_AGENT_RECONNECT_WAIT_MS, type AgentDir } from '../process/agent-process.js';

/** Debian's chromium, where `scripts/ensure-tools.mjs` (run by `npm test`) finds or installs it. */
const CHROMIUM = chromiumPath();
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const PC_ID = 'inspector-e2e';
/** Generous bound for a loaded 2-core CI machine; it usually takes 10–20 s. */
const BROWSER_TEST_TIMEOUT_MS = 90_000;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let broker: Broker;
let dir: AgentDir;
let tmp: string;
let agent: ReturnType<typeof spawnCli>;
let context: BrowserContext;
let page: Page;
let url: string;
/** The per-run inspector token from the printed URL. */
let token: string;

/** The chromium the ensure step found; a missing one fails the file with the install hint. */
function chromiumPath(): string {
  const row = TOOLS.find((tool) => tool.bin === 'chromium');
  if (!row) throw new Error('scripts/ensure-tools.mjs has no chromium row');
  const found = locate(row).path;
  if (!found) throw new Error(installHint([row]));
  return found;
}

interface State {
  actors: ActorView[];
  ended: ActorView[];
}

async function state(): Promise<State> {
  return (await (await fetch(`${url}api/state?token=${token}`)).json()) as State;
}

/** The root's children as the supervisor lists them, each with its live view once it runs. */
async function rootChildren(): Promise<{ ids: string[]; live: Map<string, ActorView> }> {
  const s = await state();
  const root = s.actors.find((a) => a.parent === undefined);
  const ids = Object.keys(root?.supervision ?? {});
  const live = new Map(s.actors.filter((a) => a.parent === root?.sessionId).map((a) => [a.id, a]));
  return { ids, live };
}

/** What one card of the page shows: its highlighted state ids and status text. */
async function card(
  id: string,
): Promise<{ active: string[]; highlighted: string[]; states: number; summary: string; trail: Array<{ at: number; state: string }> }> {
  return page.$eval(`.card[data-actor-id="${id}"]`, (el) => ({
    active: (el.getAttribute('data-active') ?? '').split(' ').filter(Boolean),
    highlighted: [...el.querySelectorAll('.chart svg .state.active:not(.root)')].map((s) => s.getAttribute('data-state') ?? ''),
    states: el.querySelectorAll('.chart svg .state').length,
    summary: el.querySelector('details pre')?.textContent ?? '',
    trail: JSON.parse(el.querySelector('.trail')?.getAttribute('data-trail') ?? '[]') as Array<{ at: number; state: string }>,
  }));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'kanade-inspector-e2e-'));
  broker = await startBroker();
  dir = await agentDir([broker.url], PC_ID);
  const port = await pickFreePort();
  agent = spawnCli(['run', '--config', dir.configPath, '--inspect', String(port)], {
    ...process.env,
    KANADE_AGENT_DATA_DIR: '',
    KANADE_NATS_RECONNECT_WAIT_MS: String(TEST_AGENT_RECONNECT_WAIT_MS),
  });
  const printed = await pollUntil(
    'the inspector URL on stderr',
    15_000,
    async () => /inspector on (http:\/\/127\.0\.0\.1:\d+\/)\?token=([A-Za-z0-9_-]{43})\b/.exec(agent.output.stderr) ?? undefined,
    50,
  );
  url = printed[1] as string;
  token = printed[2] as string;
  expect(url).toBe(`http://127.0.0.1:${port}/`);
  // Without the token nothing is served.
  expect((await fetch(url)).status).toBe(401);
  context = await chromium.launchPersistentContext(join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 700 },
  });
  page = context.pages()[0] ?? (await context.newPage());
}, BROWSER_TEST_TIMEOUT_MS);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  if (agent && agent.exitCode === null) {
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGKILL');
    await exited;
  }
  await broker?.stop().catch(() => undefined);
  await dir?.remove();
  await rm(tmp, { recursive: true, force: true });
});

describe('inspector in a real browser', () => {
  it(
    'draws every child with its current state, follows a command, and shows the connection reconnecting',
    async () => {
      const requests: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      // The printed URL sets the cookie; everything the page loads afterwards (charts, SSE) relies on it.
      await page.goto(`${url}?token=${token}`);
      expect(await page.title()).toBe(`${PC_ID} · inspector`);

      // Every child the supervisor lists is running and connected to the broker.
      const { ids, live } = await pollUntil(
        'every child running and the connection connected',
        15_000,
        async () => {
          const children = await rootChildren();
          const connected = JSON.stringify(children.live.get('connection')?.value) === '{"live":"connected"}';
          return connected && children.ids.length > 0 && children.ids.every((id) => children.live.has(id)) ? children : undefined;
        },
        100,
      );
      expect(ids).toEqual(expect.arrayContaining(['connection']));

      // Each child's chart is drawn and its current state highlighted, as the agent reports it.
      for (const id of ids) {
        await page.waitForSelector(`.card[data-actor-id="${id}"] .chart svg .state.active:not(.root)`, { timeout: 15_000 });
        const shown = await card(id);
        expect(shown.states, `${id}: states drawn`).toBeGreaterThan(1);
        expect(shown.highlighted.length, `${id}: highlighted`).toBeGreaterThan(0);
        const reported = live.get(id)!;
        // The page may be one update ahead of the JSON read above, never out of step with its own chart.
        for (const stateId of shown.highlighted) expect(shown.active).toContain(stateId);
        expect(reported.active.length).toBeGreaterThan(1);
      }
      // The header shows the supervisor's health from the status report.
      await page.waitForSelector('#health[data-health="healthy"]', { timeout: 15_000 });
      const connection = await card('connection');
      expect(connection.highlighted).toContain('connection.live.connected');

      if (ids.includes('executor')) {
        const before = await card('executor');
        const outboxBefore = await card('outbox-results');
        const execStarted = Date.now();
        const exec = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
          const bin = agentBinary();
          const child = spawn(
            bin.file,
            [...bin.args, 'exec', '--nats', broker.url, '--pc', PC_ID, '--timeout', '10', '--wait', '20', '--', 'echo hi'],
            { stdio: ['ignore', 'pipe', 'pipe'] },
          );
          let stdout = '';
          child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
          child.on('exit', (code) => resolve({ code, stdout }));
        });
        expect(exec.code).toBe(0);
        expect(exec.stdout).toContain('hi');
        // The run's actor appears in the tree (live or recently ended) and its chart opens on click.
        const runRow = page.locator('.actor-row[data-actor-id^="run-"]').first();
        await runRow.waitFor({ timeout: 10_000 });
        await runRow.click();
        const runId = await runRow.getAttribute('data-actor-id');
        await page.waitForSelector(`.card[data-actor-id="${runId}"] .chart svg .state.active:not(.root)`, { timeout: 10_000 });
        // The log filters by actor, and the command's script never reached the page (redacted).
        await page.selectOption('#filter', runId!);
        const logActors = await page.$$eval('#events tr', (rows) => rows.map((r) => r.getAttribute('data-actor-id')));
        expect(logActors.length).toBeGreaterThan(0);
        expect(new Set(logActors)).toEqual(new Set([runId]));
        const everything = JSON.stringify(await state());
        expect(everything).toContain('[redacted script, 7 chars]');
        expect(everything).not.toContain('echo hi');
        // The executor counted the command; its highlighted state is the intake's (commands run as child actors).
        await pollUntil('the executor status to change', 10_000, async () => (await card('executor')).summary !== before.summary, 100);
        expect((await card('executor')).highlighted.length).toBeGreaterThan(0);
        // The results outbox delivered the result: its status changed and its state trail moved after the command.
        await pollUntil(
          'the results outbox to change state and status after the command',
          10_000,
          async () => {
            const outbox = await card('outbox-results');
            return outbox.summary !== outboxBefore.summary && outbox.trail.some((t) => t.at >= execStarted);
          },
          100,
        );
      }

      const shot = join(tmp, 'inspector.png');
      await page.screenshot({ path: shot });
      const png = await readFile(shot);
      expect(png.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
      expect(png.length).toBeGreaterThan(10_000);
      if (process.env['KANADE_INSPECTOR_SCREENSHOT']) await page.screenshot({ path: process.env['KANADE_INSPECTOR_SCREENSHOT'] });

      // The broker goes away: the connection chart highlights reconnecting.
      await broker.server.stop();
      await page.waitForSelector('.card[data-actor-id="connection"] .chart svg [data-state="connection.live.reconnecting"].active', {
        timeout: 15_000,
      });
      expect((await card('connection')).highlighted).toEqual(['connection.live', 'connection.live.reconnecting']);
      await page.waitForSelector('#health[data-health="degraded"]', { timeout: 10_000 });

      expect(errors).toEqual([]);
      // Everything the page loaded came from the agent itself.
      expect(requests.length).toBeGreaterThan(0);
      for (const request of requests) expect(request.startsWith(url)).toBe(true);
    },
    BROWSER_TEST_TIMEOUT_MS,
  );
});
