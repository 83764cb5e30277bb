/** `Heartbeat` (§5.4) on core `heartbeat.<pc_id>`, and the ping reply on `agents.<pc_id>.ping`. */
import {
  arrayOf,
  boolean,
  decodeJson,
  field,
  finiteNumber,
  oneOf,
  optional,
  record,
  string,
  unsigned,
  type Decoded,
  type Decoder,
} from './decode.js';
import { rfc3339 } from './time.js';

export const OS_FAMILIES = ['windows', 'linux', 'macos'] as const;
export type OsFamily = (typeof OS_FAMILIES)[number];

export interface Heartbeat {
  readonly pc_id: string;
  readonly at: string;
  readonly agent_version: string;
  readonly command_keys: readonly string[];
  readonly enforcing: boolean;
  /** Always in periodic beats; absent in ping replies (§5.4). */
  readonly command_protocols?: readonly string[];
  readonly hostname?: string;
  readonly os_family?: OsFamily;
  readonly agent_cpu_pct?: number;
  readonly agent_rss_bytes?: number;
  readonly agent_disk_read_bytes?: number;
  readonly agent_disk_written_bytes?: number;
  readonly quarantined_versions?: readonly string[];
}

export const heartbeat: Decoder<Heartbeat> = (value, path) => {
  const obj = record(value, path);
  const optionals = {
    command_protocols: optional(obj, 'command_protocols', arrayOf(string), path),
    hostname: optional(obj, 'hostname', string, path),
    os_family: optional(obj, 'os_family', oneOf(OS_FAMILIES), path),
    agent_cpu_pct: optional(obj, 'agent_cpu_pct', finiteNumber, path),
    agent_rss_bytes: optional(obj, 'agent_rss_bytes', unsigned, path),
    agent_disk_read_bytes: optional(obj, 'agent_disk_read_bytes', unsigned, path),
    agent_disk_written_bytes: optional(obj, 'agent_disk_written_bytes', unsigned, path),
    quarantined_versions: optional(obj, 'quarantined_versions', arrayOf(string), path),
  };
  return {
    pc_id: field(obj, 'pc_id', string, path),
    at: field(obj, 'at', rfc3339, path),
    agent_version: field(obj, 'agent_version', string, path),
    command_keys: field(obj, 'command_keys', arrayOf(string), path),
    enforcing: field(obj, 'enforcing', boolean, path),
    ...Object.fromEntries(Object.entries(optionals).filter(([, v]) => v !== undefined)),
  };
};

export function decodeHeartbeat(bytes: Uint8Array | string): Decoded<Heartbeat> {
  return decodeJson(heartbeat, bytes);
}

/** The wire form: required fields first, absent optionals and an empty `quarantined_versions` omitted. */
export function encodeHeartbeat(h: Heartbeat): string {
  const out: Record<string, unknown> = {
    pc_id: h.pc_id,
    at: h.at,
    agent_version: h.agent_version,
    command_keys: h.command_keys,
    enforcing: h.enforcing,
  };
  const rest: Array<keyof Heartbeat> = [
    'command_protocols',
    'hostname',
    'os_family',
    'agent_cpu_pct',
    'agent_rss_bytes',
    'agent_disk_read_bytes',
    'agent_disk_written_bytes',
  ];
  for (const key of rest) if (h[key] !== undefined) out[key] = h[key];
  if (h.quarantined_versions !== undefined && h.quarantined_versions.length > 0) out['quarantined_versions'] = h.quarantined_versions;
  return JSON.stringify(out);
}
