/** `EventStarted` (§5.7) on `events.started.<exec_id>.<pc_id>`, only for commands with an `exec_id`. */
import { decodeJson, field, record, string, type Decoded, type Decoder } from './decode.js';
import { uuid } from './command.js';
import { rfc3339 } from './time.js';

export interface EventStarted {
  readonly result_id: string;
  readonly request_id: string;
  readonly exec_id: string;
  readonly pc_id: string;
  readonly started_at: string;
  readonly manifest_id: string;
  readonly version: string;
}

export const eventStarted: Decoder<EventStarted> = (value, path) => {
  const obj = record(value, path);
  return {
    result_id: field(obj, 'result_id', uuid, path),
    request_id: field(obj, 'request_id', string, path),
    exec_id: field(obj, 'exec_id', string, path),
    pc_id: field(obj, 'pc_id', string, path),
    started_at: field(obj, 'started_at', rfc3339, path),
    manifest_id: field(obj, 'manifest_id', string, path),
    version: field(obj, 'version', string, path),
  };
};

export function decodeEventStarted(bytes: Uint8Array | string): Decoded<EventStarted> {
  return decodeJson(eventStarted, bytes);
}

/** The wire form, in contract field order. */
export function encodeEventStarted(e: EventStarted): string {
  const { result_id, request_id, exec_id, pc_id, started_at, manifest_id, version } = e;
  return JSON.stringify({ result_id, request_id, exec_id, pc_id, started_at, manifest_id, version });
}
