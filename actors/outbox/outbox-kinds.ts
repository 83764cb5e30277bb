/**
 * The three outboxes of contract §9 as data: directory, payload decoder and encoder, file name and
 * subject. One mechanism serves all three; only this table differs.
 *
 * @example
 * const spec = OUTBOX_KINDS.results;
 * spec.subject(result); // "results.<request_id>"
 */
import {
  decodeEventStarted,
  decodeExecResult,
  decodeObsEvent,
  encodeEventStarted,
  encodeExecResult,
  encodeObsEvent,
  subjects,
  type Decoded,
  type EventStarted,
  type ExecResult,
  type ObsEvent,
} from '../../contract/index.js';
import { uuidV4 } from '../ids.js';

/** Names of the three outboxes; the child ids are `outbox-<kind>`. */
export type OutboxKind = 'results' | 'events' | 'obs';

/** The payload type carried by each outbox. */
export interface OutboxPayloads {
  results: ExecResult;
  events: EventStarted;
  obs: ObsEvent;
}

/** How one outbox names, encodes and routes its messages. */
export interface OutboxKindSpec<T> {
  readonly kind: OutboxKind;
  /** Directory under `<data_dir>` (§9). */
  readonly dirName: string;
  decode(bytes: Uint8Array): Decoded<T>;
  /** The wire form written to disk and published byte for byte. */
  encode(message: T): string;
  /** File name stem: `result_id` for results and events, a fresh UUIDv4 for obs (ObsEvent has no id). */
  fileId(message: T): string;
  /** Subject the message is published on, derived from the payload (never from the file name). */
  subject(message: T): string;
}

/** The §9 table. */
export const OUTBOX_KINDS: { readonly [K in OutboxKind]: OutboxKindSpec<OutboxPayloads[K]> } = {
  results: {
    kind: 'results',
    dirName: 'outbox',
    decode: decodeExecResult,
    encode: encodeExecResult,
    fileId: (r) => r.result_id,
    subject: (r) => subjects.results(r.request_id),
  },
  events: {
    kind: 'events',
    dirName: 'events-outbox',
    decode: decodeEventStarted,
    encode: encodeEventStarted,
    fileId: (e) => e.result_id,
    subject: (e) => subjects.eventsStarted(e.exec_id, e.pc_id),
  },
  obs: {
    kind: 'obs',
    dirName: 'obs-outbox',
    decode: decodeObsEvent,
    encode: encodeObsEvent,
    fileId: () => uuidV4(),
    subject: (o) => subjects.obs(o.pc_id),
  },
};

/** Every outbox kind, in child start order. */
export const OUTBOX_KIND_NAMES: readonly OutboxKind[] = ['results', 'events', 'obs'];
