/** The host's logical CPU count, the default of `max_local_concurrent` (contract §5.6). */
import os from 'node:os';

/** Logical CPUs available to this process; 1 when the OS cannot tell. */
export function logicalCpuCount(): number {
  const count = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Number.isInteger(count) && count >= 1 ? count : 1;
}
