/**
 * The agent's own resource use for the heartbeat's `agent_*` fields (§5.4): CPU as % of one core
 * from `process.cpuUsage()` deltas between two periodic beats (absent on the first), resident
 * memory, and cumulative storage I/O from `/proc/self/io` where the OS provides it.
 *
 * @example
 * const first = samplePerf(null);   // first.cpuPct === undefined
 * const next = samplePerf(first.sample);
 */
import { readFileSync } from 'node:fs';

/** The raw counters a CPU delta is computed from; plain JSON so machine context can hold it. */
export interface PerfCounters {
  /** Monotonic wall clock, microseconds. */
  readonly wallUs: number;
  /** User + system CPU time of this process, microseconds. */
  readonly cpuUs: number;
}

/** One sample: the heartbeat fields plus the counters for the next delta. */
export interface PerfSample {
  readonly sample: PerfCounters;
  readonly cpuPct?: number;
  readonly rssBytes: number;
  readonly diskReadBytes?: number;
  readonly diskWrittenBytes?: number;
}

const PROC_SELF_IO = '/proc/self/io';

/** `read_bytes` / `write_bytes` of `/proc/self/io` (Linux), or undefined where unreadable. */
export function readProcIo(file = PROC_SELF_IO): { readBytes: number; writtenBytes: number } | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const text = readFileSync(file, 'utf8');
    const read = /^read_bytes:\s*(\d+)/m.exec(text)?.[1];
    const written = /^write_bytes:\s*(\d+)/m.exec(text)?.[1];
    if (read === undefined || written === undefined) return undefined;
    return { readBytes: Number(read), writtenBytes: Number(written) };
  } catch {
    return undefined;
  }
}

/** Samples now; with `previous`, also the CPU % of one core since then (2 decimals). */
export function samplePerf(previous: PerfCounters | null): PerfSample {
  const usage = process.cpuUsage();
  const sample: PerfCounters = { wallUs: Number(process.hrtime.bigint() / 1000n), cpuUs: usage.user + usage.system };
  const io = readProcIo();
  let cpuPct: number | undefined;
  if (previous !== null && sample.wallUs > previous.wallUs) {
    cpuPct = Math.max(0, Math.round(((sample.cpuUs - previous.cpuUs) / (sample.wallUs - previous.wallUs)) * 10_000) / 100);
  }
  return {
    sample,
    ...(cpuPct !== undefined && { cpuPct }),
    rssBytes: process.memoryUsage.rss(),
    ...(io && { diskReadBytes: io.readBytes, diskWrittenBytes: io.writtenBytes }),
  };
}
