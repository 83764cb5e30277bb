/**
 * What `--inspect` costs the agent per event: the same machine driven with no inspection hook
 * (the default), and with the inspector's hub receiving every inspection event.
 * Run: npx vitest bench --run bench/inspector.bench.ts
 */
import { bench, describe } from 'vitest';
import { createActor, setup } from 'xstate';
import { createInspectionHub } from '../devtools/inspector/inspection-hub.js';
import { redactPayload } from '../devtools/inspector/redact.js';

const EVENTS_PER_ITERATION = 1_000;

const pingPong = setup({}).createMachine({
  id: 'pingPong',
  initial: 'idle',
  states: { idle: { tags: ['healthy'], on: { ping: 'busy' } }, busy: { tags: ['busy'], on: { ping: 'idle' } } },
});

const event = {
  type: 'command.received',
  command: { request_id: '0f8fad5b-d9cb-469f-a165-70867728950e', shell: 'sh', script: 'echo hi', timeout_secs: 60, exec_id: 'e1' },
  headers: { 'Kanade-Sig': 'c2lnbmF0dXJl', 'Kanade-Sig-Kid': 'k1' },
};

describe('xstate actor, 1000 events', () => {
  const plain = createActor(pingPong).start();
  bench('no inspection hook (default)', () => {
    for (let i = 0; i < EVENTS_PER_ITERATION; i += 1) plain.send(event as never);
  });

  const noop = createActor(pingPong, { inspect: () => undefined }).start();
  bench("no-op inspect observer (xstate's own cost)", () => {
    for (let i = 0; i < EVENTS_PER_ITERATION; i += 1) noop.send(event as never);
  });

  const hub = createInspectionHub();
  const inspected = createActor(pingPong, { inspect: hub.inspect }).start();
  bench('inspector hub attached', () => {
    for (let i = 0; i < EVENTS_PER_ITERATION; i += 1) inspected.send(event as never);
  });
});

describe('redaction', () => {
  bench('redactPayload(command event)', () => {
    redactPayload(event);
  });
});
