import { connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { createInspectionHub } from '../../actors/inspector/inspection-hub.js';
import { MAX_SSE_CLIENTS, startInspectorServer, type InspectorServer } from '../../actors/inspector/inspector-server.js';
import { extractMachineGraph } from '../../actors/inspector/machine-graph.js';
import { MACHINE_CATALOG } from '../../supervisor/machine-catalog.js';
import { pollUntil } from '../harness/poll.js';

const echo = setup({}).createMachine({
  id: 'echo',
  initial: 'idle',
  states: { idle: { on: { ping: 'busy' } }, busy: { tags: ['busy'], on: { ping: 'idle', noise: {} } } },
});

let server: InspectorServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function poll<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  return pollUntil(what, timeoutMs, fn, 20);
}

describe('inspector server', () => {
  it('serves a self-contained page, charts and state, to loopback hosts only', async () => {
    const hub = createInspectionHub();
    // One catalog machine besides the running one; cli.spec.ts renders every catalog chart.
    hub.registerMachine(MACHINE_CATALOG['connection']!);
    const actor = createActor(echo, { inspect: hub.inspect }).start();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0 });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);

    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('new EventSource');
    // Nothing is loaded from elsewhere: no absolute URLs in src/href, no external script tags.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);

    server.setStatusSource(() => ({ health: 'degraded', children: [{ id: 'heartbeat', phase: 'backoff', restarts: 2, next_restart_in_ms: 3000 }], password: 'pw' }));
    const state = (await (await fetch(`${server.url}api/state`)).json()) as { actors: Array<{ id: string; active: string[] }>; report: unknown };
    expect(state.actors.find((a) => a.id === actor.id)?.active).toEqual(['echo', 'echo.idle']);
    expect(state.report).toEqual({ health: 'degraded', children: [{ id: 'heartbeat', phase: 'backoff', restarts: 2, next_restart_in_ms: 3000 }], password: '[redacted]' });

    for (const key of hub.charts()) {
      const res = await fetch(`${server.url}chart/${key}.svg`);
      expect(res.headers.get('content-type')).toBe('image/svg+xml');
      const svg = await res.text();
      const graph = extractMachineGraph(hub.machine(key)!);
      for (const node of graph.nodes) expect(svg).toContain(`data-state="${node.id}"`);
      // Every transition is drawn, some sharing an arrow with others between the same two states.
      const drawn = [...svg.matchAll(/data-edge="([^"]*)"/g)].flatMap((m) => (m[1] as string).split(' '));
      expect(drawn.sort()).toEqual(graph.edges.map((e) => e.id).sort());
    }
    expect((await fetch(`${server.url}chart/nope.svg`)).status).toBe(404);

    const rebound = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(server!.port, '127.0.0.1', () => socket.end('GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(rebound).toMatch(/^HTTP\/1\.1 403/);
    actor.stop();
  });

  it('streams live updates over SSE and limits the number of browsers', async () => {
    const hub = createInspectionHub();
    const actor = createActor(echo, { inspect: hub.inspect }).start();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0, flushIntervalMs: 10 });
    const controller = new AbortController();
    const res = await fetch(`${server.url}events`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let buffered = '';
    const nextUpdate = async (pred: (msg: any) => boolean): Promise<any> => {
      for (;;) {
        const frames = buffered.split('\n\n');
        buffered = frames.pop() ?? '';
        for (const frame of frames) {
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (data) {
            const msg = JSON.parse(data.slice(6));
            if (pred(msg)) return msg;
          }
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffered += new TextDecoder().decode(value);
      }
    };
    const first = await nextUpdate((m) => m.actors.length === 1);
    expect(first.actors[0].value).toBe('idle');
    actor.send({ type: 'ping' });
    const next = await nextUpdate((m) => m.actors[0]?.value === 'busy');
    expect(next.actors[0].active).toEqual(['echo', 'echo.busy']);
    expect(next.events.some((e: any) => e.type === 'ping')).toBe(true);

    await poll('the stream to be counted', () => server!.clients() === 1);
    const extra = [];
    for (let i = 1; i < MAX_SSE_CLIENTS; i += 1) extra.push(new AbortController());
    const opened = await Promise.all(extra.map((c) => fetch(`${server!.url}events`, { signal: c.signal })));
    expect(opened.every((r) => r.status === 200)).toBe(true);
    expect((await fetch(`${server.url}events`)).status).toBe(503);
    for (const c of extra) c.abort();
    controller.abort();
    actor.stop();
  });

  it('drops updates for a browser that does not read, instead of buffering or slowing the agent', async () => {
    const hub = createInspectionHub({ eventLogSize: 200 });
    const actor = createActor(echo, { inspect: hub.inspect }).start();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0, flushIntervalMs: 2, maxBacklogBytes: 64 * 1024 });
    const stalled = tcpConnect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    stalled.pause(); // never read: the kernel buffers fill, then the server's own backlog
    await poll('the stalled client to connect', () => server!.clients() === 1);
    const big = 'x'.repeat(150);
    const filler = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, big]));
    let sent = 0;
    await poll(
      'updates to be dropped',
      async () => {
        for (let i = 0; i < 50; i += 1) actor.send({ type: 'noise', ...filler });
        sent += 50;
        await new Promise((r) => setTimeout(r, 3));
        return server!.drops() > 0;
      },
      30_000,
    );
    expect(sent).toBeGreaterThan(0);
    expect(hub.events().length).toBeLessThanOrEqual(200);
    stalled.destroy();
    actor.stop();
  });
});

