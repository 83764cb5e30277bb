import { describe, expect, it } from 'vitest';
import { REDACTED, redactPayload } from '../../devtools/inspector/redact.js';

describe('redactPayload', () => {
  it('replaces tokens, passwords, signatures and Kanade-Sig headers wherever they are nested', () => {
    const out = redactPayload({
      type: 'command.received',
      token: 'abc',
      nested: { password: 'hunter2', user_password: 'x', creds: 'y', apiKey: 'k' },
      headers: { 'Kanade-Sig': 'c2ln', 'Kanade-Sig-Kid': 'k1', 'Kanade-Sig-At': '1', 'Content-Type': 'json' },
      signature: new Uint8Array(64),
      list: [{ secret: 's' }, { authorization: 'Bearer t' }],
    }) as Record<string, any>;
    expect(out.token).toBe(REDACTED);
    expect(out.nested).toEqual({ password: REDACTED, user_password: REDACTED, creds: REDACTED, apiKey: REDACTED });
    expect(out.headers).toEqual({ 'Kanade-Sig': REDACTED, 'Kanade-Sig-Kid': REDACTED, 'Kanade-Sig-At': REDACTED, 'Content-Type': 'json' });
    expect(out.signature).toBe(REDACTED);
    expect(out.list).toEqual([{ secret: REDACTED }, { authorization: REDACTED }]);
    expect(JSON.stringify(out)).not.toMatch(/abc|hunter2|c2ln|Bearer/);
  });

  it('redacts script bodies by default and shows them (truncated) when configured so', () => {
    const event = { type: 'command.admitted', command: { request_id: 'r1', shell: 'sh', script: 'echo top-secret' } };
    expect((redactPayload(event) as any).command).toEqual({ request_id: 'r1', shell: 'sh', script: '[redacted script, 15 chars]' });
    expect((redactPayload(event, { redactScripts: false }) as any).command.script).toBe('echo top-secret');
  });

  it('redacts stdout/stderr/output and string command bodies by default', () => {
    const event = { type: 'result', body: 'raw body', result: { stdout: 'out', stderr_tail: 'err', output: 'o', exit_code: 3 } };
    expect(redactPayload(event)).toEqual({
      type: 'result',
      body: '[redacted script, 8 chars]',
      result: {
        stdout: '[redacted output, 3 chars]',
        stderr_tail: '[redacted output, 3 chars]',
        output: '[redacted output, 1 chars]',
        exit_code: 3,
      },
    });
    expect((redactPayload(event, { redactOutput: false }) as any).result.stdout).toBe('out');
  });

  it('names connections, actors and class instances instead of walking them', () => {
    const nc = { publish() {}, subscribe() {}, drain() {}, options: { pass: 'p' } };
    class Logger {
      level = 'info';
    }
    const actor = { id: 'executor', sessionId: 'x:3', send() {}, getSnapshot() {} };
    const out = redactPayload({
      nc,
      conn: nc,
      broker: { connected: true, nc },
      log: new Logger(),
      ref: actor,
      err: new Error('boom'),
    }) as Record<string, any>;
    expect(out.nc).toBe('[nats connection]');
    expect(out.conn).toBe('[nats connection]');
    expect(out.broker).toEqual({ connected: true, nc: '[nats connection]' });
    expect(out.log).toBe('[Logger]');
    expect(out.ref).toBe('[actor executor]');
    expect(out.err).toEqual({ error: 'Error', message: 'boom' });
  });

  it('truncates long strings, long arrays, wide and deep objects, and bounds the whole payload', () => {
    const out = redactPayload(
      { stdout: 'x'.repeat(10_000), items: Array.from({ length: 100 }, (_, i) => i), deep: { a: { b: { c: { d: { e: { f: 1 } } } } } } },
      { redactOutput: false },
    ) as Record<string, any>;
    expect(out.stdout).toMatch(/^x{200}…\(\+9800 chars\)$/);
    expect(out.items).toHaveLength(21);
    expect(out.items[20]).toBe('…(+80 items)');
    expect(JSON.stringify(out.deep)).toContain('[object]');
    const wide = redactPayload(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'.repeat(150)])));
    expect(JSON.stringify(wide).length).toBeLessThan(3_000);
  });

  it('survives cycles and odd values', () => {
    const a: Record<string, unknown> = { type: 'loop', n: 1n, f: () => 1, u: undefined, d: new Date(0) };
    a['self'] = a;
    expect(redactPayload(a)).toEqual({
      type: 'loop',
      n: '1n',
      f: '[function]',
      u: undefined,
      d: '1970-01-01T00:00:00.000Z',
      self: '[circular]',
    });
  });
});
