import { connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { createInspectionHub } from '../../devtools/inspector/inspection-hub.js';
import { MAX_SSE_CLIENTS, startInspectorServer, type InspectorServer } from '../../devtools/inspector/inspector-server.js';
import { extractMachineGraph } from '../../devtools/inspector/machine-graph.js';
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
    expect(server.authUrl).toBe(`${server.url}?token=${server.token}`);
    expect(server.token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const page = await fetch(server.authUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('new EventSource');
    // Nothing is loaded from elsewhere: no absolute URLs in src/href, no external script tags.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);

    server.setStatusSource(() => ({
      health: 'degraded',
      children: [{ id: 'heartbeat', phase: 'backoff', restarts: 2, next_restart_in_ms: 3000 }],
      password: 'pw',
    }));
    const cookie = `${server.cookieName}=${server.token}`;
    const state = (await (await fetch(`${server.url}api/state`, { headers: { cookie } })).json()) as {
      actors: Array<{ id: string; active: string[] }>;
      report: unknown;
    };
    expect(state.actors.find((a) => a.id === actor.id)?.active).toEqual(['echo', 'echo.idle']);
    expect(state.report).toEqual({
      health: 'degraded',
      children: [{ id: 'heartbeat', phase: 'backoff', restarts: 2, next_restart_in_ms: 3000 }],
      password: '[redacted]',
    });

    for (const key of hub.charts()) {
      const res = await fetch(`${server.url}chart/${key}.svg`, { headers: { cookie } });
      expect(res.headers.get('content-type')).toBe('image/svg+xml');
      const svg = await res.text();
      const graph = extractMachineGraph(hub.machine(key)!);
      for (const node of graph.nodes) expect(svg).toContain(`data-state="${node.id}"`);
      // Every transition is drawn, some sharing an arrow with others between the same two states.
      const drawn = [...svg.matchAll(/data-edge="([^"]*)"/g)].flatMap((m) => (m[1] as string).split(' '));
      expect(drawn.sort()).toEqual(graph.edges.map((e) => e.id).sort());
    }
    expect((await fetch(`${server.url}chart/nope.svg`, { headers: { cookie } })).status).toBe(404);

    const rebound = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(server!.port, '127.0.0.1', () =>
        socket.end('GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'),
      );
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(rebound).toMatch(/^HTTP\/1\.1 403/);
    actor.stop();
  });

  it('refuses every path without the per-run token, and with a wrong token of the same length', async () => {
    const hub = createInspectionHub();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0 });
    const wrong = `${server.token.slice(0, -1)}${server.token.endsWith('A') ? 'B' : 'A'}`;
    expect(wrong).toHaveLength(server.token.length);
    for (const path of ['', 'api/state', 'events', 'favicon.ico', 'chart/echo.svg', 'nope']) {
      const none = await fetch(`${server.url}${path}`);
      expect(none.status).toBe(401);
      expect(none.headers.get('set-cookie')).toBeNull();
      expect((await fetch(`${server.url}${path}?token=${wrong}`)).status).toBe(403);
      expect((await fetch(`${server.url}${path}`, { headers: { cookie: `${server.cookieName}=${wrong}` } })).status).toBe(403);
      // A cookie of another inspector (another port) does not count.
      expect((await fetch(`${server.url}${path}`, { headers: { cookie: `kanade_inspector_1=${server.token}` } })).status).toBe(401);
    }
    // The first load with the right token sets an HttpOnly SameSite=Strict cookie; the cookie alone then opens the stream.
    const first = await fetch(server.authUrl);
    expect(first.status).toBe(200);
    const setCookie = first.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(new RegExp(`^${server.cookieName}=${server.token};`));
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    const controller = new AbortController();
    const stream = await fetch(`${server.url}events`, {
      signal: controller.signal,
      headers: { cookie: setCookie.split(';')[0] as string },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    await poll('the stream to be counted', () => server!.clients() === 1);
    controller.abort();
    // A fresh server has a fresh token: the old one is refused.
    const old = server.token;
    await server.close();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0 });
    expect(server.token).not.toBe(old);
    expect((await fetch(`${server.url}?token=${old}`)).status).toBe(403);
  });

  it('redacts command scripts and their stdout/stderr by default', async () => {
    const hub = createInspectionHub();
    const actor = createActor(setup({}).createMachine({ id: 'm', on: { 'command.done': {} } }), { inspect: hub.inspect }).start();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0 });
    actor.send({
      type: 'command.done',
      command: { script: 'echo s3cret-script', body: 'raw s3cret-body' },
      result: { exit_code: 0, stdout: 's3cret-out\n', stderr: 's3cret-err\n' },
    } as never);
    const text = await (await fetch(`${server.url}api/state?token=${server.token}`)).text();
    expect(text).not.toContain('s3cret');
    const state = JSON.parse(text) as { events: Array<{ type: string; payload: unknown }> };
    expect(state.events.find((e) => e.type === 'command.done')?.payload).toEqual({
      type: 'command.done',
      command: { script: '[redacted script, 18 chars]', body: '[redacted script, 15 chars]' },
      result: { exit_code: 0, stdout: '[redacted output, 11 chars]', stderr: '[redacted output, 11 chars]' },
    });
    actor.stop();
  });

  it('streams live updates over SSE; when full, a new browser is served and the oldest one is closed', async () => {
    const hub = createInspectionHub();
    const actor = createActor(echo, { inspect: hub.inspect }).start();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0, flushIntervalMs: 10 });
    const cookie = `${server.cookieName}=${server.token}`;
    const controller = new AbortController();
    const res = await fetch(`${server.url}events`, { signal: controller.signal, headers: { cookie } });
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
    const opened = await Promise.all(extra.map((c) => fetch(`${server!.url}events`, { signal: c.signal, headers: { cookie } })));
    expect(opened.every((r) => r.status === 200)).toBe(true);
    await poll('every stream to be counted', () => server!.clients() === MAX_SSE_CLIENTS);
    expect(server.evictions()).toBe(0);
    // The (N+1)-th browser is served; the oldest (the first stream) is closed to make room, the others stay.
    const newest = new AbortController();
    const late = await fetch(`${server.url}events`, { signal: newest.signal, headers: { cookie } });
    expect(late.status).toBe(200);
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    expect(server.evictions()).toBe(1);
    expect(server.clients()).toBe(MAX_SSE_CLIENTS);
    const lateReader = late.body!.getReader();
    expect(new TextDecoder().decode((await lateReader.read()).value)).toContain('retry:');
    actor.send({ type: 'ping' });
    // The second-oldest stream is still open and still gets updates.
    const secondReader = opened[0]!.body!.getReader();
    let seen = '';
    while (!seen.includes('"value":"idle"')) {
      const { value, done } = await secondReader.read();
      if (done) throw new Error('the second stream was closed too');
      seen += new TextDecoder().decode(value);
    }
    expect(server.evictions()).toBe(1);
    for (const c of extra) c.abort();
    newest.abort();
    controller.abort();
    actor.stop();
  });

  it('drops updates for a browser that does not read, instead of buffering or slowing the agent', async () => {
    const hub = createInspectionHub({ eventLogSize: 200 });
    const actor = createActor(echo, { inspect: hub.inspect }).start();
    server = await startInspectorServer({ hub, host: '127.0.0.1', port: 0, flushIntervalMs: 2, maxBacklogBytes: 64 * 1024 });
    const stalled = tcpConnect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.write(`GET /events?token=${server.token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
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
