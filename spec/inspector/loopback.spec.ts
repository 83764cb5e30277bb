import { describe, expect, it } from 'vitest';
import {
  DEFAULT_INSPECT_PORT,
  InspectorBindError,
  isLoopbackHostHeader,
  loopbackBindAddress,
  parseInspectAddress,
} from '../../devtools/inspector/loopback.js';
import { createInspectionHub } from '../../devtools/inspector/inspection-hub.js';
import { startInspectorServer } from '../../devtools/inspector/inspector-server.js';

describe('inspector bind address', () => {
  it('accepts loopback only', () => {
    expect(loopbackBindAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(loopbackBindAddress('localhost')).toBe('127.0.0.1');
    expect(loopbackBindAddress('::1')).toBe('::1');
    expect(loopbackBindAddress('[::1]')).toBe('::1');
    for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '127.0.0.2']) {
      expect(() => loopbackBindAddress(host)).toThrow(InspectorBindError);
      expect(() => loopbackBindAddress(host)).toThrow(`refusing to serve the inspector on ${host}`);
    }
  });

  it('parses --inspect values', () => {
    expect(parseInspectAddress(true)).toEqual({ host: '127.0.0.1', port: DEFAULT_INSPECT_PORT });
    expect(parseInspectAddress('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseInspectAddress('localhost:9001')).toEqual({ host: '127.0.0.1', port: 9001 });
    expect(parseInspectAddress('[::1]:9002')).toEqual({ host: '::1', port: 9002 });
    expect(() => parseInspectAddress('0.0.0.0:9000')).toThrow(InspectorBindError);
    expect(() => parseInspectAddress('0.0.0.0')).toThrow(InspectorBindError);
    expect(() => parseInspectAddress('70000')).toThrow('port out of range');
  });

  it('refuses to start the server on a non-loopback address, before opening any socket', async () => {
    await expect(startInspectorServer({ hub: createInspectionHub(), host: '0.0.0.0', port: 0 })).rejects.toThrow(InspectorBindError);
  });

  it('answers only requests that name a loopback host (DNS rebinding)', () => {
    expect(isLoopbackHostHeader('127.0.0.1:4280')).toBe(true);
    expect(isLoopbackHostHeader('localhost:4280')).toBe(true);
    expect(isLoopbackHostHeader('[::1]:4280')).toBe(true);
    expect(isLoopbackHostHeader('evil.example:4280')).toBe(false);
    expect(isLoopbackHostHeader(undefined)).toBe(false);
  });
});
