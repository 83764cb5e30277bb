/**
 * Builds a contract `Heartbeat` (§5.4). Periodic beats carry `command_protocols` and the `agent_*`
 * perf fields; ping replies carry neither.
 *
 * @example
 * const beat = buildHeartbeat({ pcId: 'PC001', agentVersion: '0.1.0', keys, perf, kind: 'periodic', atMs: Date.now() });
 */
import os from 'node:os';
import { COMMAND_PROTOCOLS, formatRfc3339, type Heartbeat, type OsFamily } from '../../contract/index.js';
import type { CommandKeyStatus } from './command-key-status.js';
import type { PerfSample } from './perf-sample.js';

/** This OS in the contract's `os_family` words, or undefined elsewhere. */
export function osFamily(platform: NodeJS.Platform = process.platform): OsFamily | undefined {
  if (platform === 'win32') return 'windows';
  if (platform === 'linux') return 'linux';
  if (platform === 'darwin') return 'macos';
  return undefined;
}

/** What {@link buildHeartbeat} needs. */
export interface HeartbeatParts {
  readonly pcId: string;
  readonly agentVersion: string;
  readonly keys: CommandKeyStatus;
  readonly atMs: number;
  /** `periodic` beats carry protocols and perf; `ping` replies do not. */
  readonly kind: 'periodic' | 'ping';
  readonly perf?: PerfSample;
  readonly quarantinedVersions?: readonly string[];
}

/** Assembles the heartbeat; absent optionals stay absent (encodeHeartbeat omits them). */
export function buildHeartbeat(parts: HeartbeatParts): Heartbeat {
  const family = osFamily();
  const perf = parts.kind === 'periodic' ? parts.perf : undefined;
  return {
    pc_id: parts.pcId,
    at: formatRfc3339(parts.atMs),
    agent_version: parts.agentVersion,
    command_keys: [...parts.keys.command_keys],
    enforcing: parts.keys.enforcing,
    ...(parts.kind === 'periodic' && { command_protocols: [...COMMAND_PROTOCOLS] }),
    hostname: os.hostname(),
    ...(family && { os_family: family }),
    ...(perf?.cpuPct !== undefined && { agent_cpu_pct: perf.cpuPct }),
    ...(perf && { agent_rss_bytes: perf.rssBytes }),
    ...(perf?.diskReadBytes !== undefined && { agent_disk_read_bytes: perf.diskReadBytes }),
    ...(perf?.diskWrittenBytes !== undefined && { agent_disk_written_bytes: perf.diskWrittenBytes }),
    ...(parts.quarantinedVersions && parts.quarantinedVersions.length > 0 && { quarantined_versions: [...parts.quarantinedVersions] }),
  };
}
