/** `ObsEvent` (§5.8) on `obs.<pc_id>`, deduped by the backend on (pc_id, source, event_record_id). */
import { anyJson, decodeJson, field, optional, record, string, type Decoded, type Decoder } from './decode.js';
import { rfc3339 } from './time.js';

export interface ObsEvent {
  readonly pc_id: string;
  readonly at: string;
  readonly kind: string;
  readonly source: string;
  readonly event_record_id?: string;
  readonly payload?: unknown;
}

/** Sources this agent emits. */
export const OBS_SOURCE_STARTUP = 'agent:startup';
export const OBS_SOURCE_SIGNATURE = 'command_signature';
export const OBS_SOURCE_ADMISSION = 'command_admission';
/** Self-update events `agent_update_*` (docs/updater.md). */
export const OBS_SOURCE_SELF_UPDATE = 'agent:self_update';

export const obsEvent: Decoder<ObsEvent> = (value, path) => {
  const obj = record(value, path);
  const eventRecordId = optional(obj, 'event_record_id', string, path);
  const payload = optional(obj, 'payload', anyJson, path);
  return {
    pc_id: field(obj, 'pc_id', string, path),
    at: field(obj, 'at', rfc3339, path),
    kind: field(obj, 'kind', string, path),
    source: field(obj, 'source', string, path),
    ...(eventRecordId !== undefined && { event_record_id: eventRecordId }),
    ...(payload !== undefined && { payload }),
  };
};

export function decodeObsEvent(bytes: Uint8Array | string): Decoded<ObsEvent> {
  return decodeJson(obsEvent, bytes);
}

/** The wire form; absent optionals are omitted. */
export function encodeObsEvent(e: ObsEvent): string {
  const out: Record<string, unknown> = { pc_id: e.pc_id, at: e.at, kind: e.kind, source: e.source };
  if (e.event_record_id !== undefined) out['event_record_id'] = e.event_record_id;
  if (e.payload !== undefined) out['payload'] = e.payload;
  return JSON.stringify(out);
}
