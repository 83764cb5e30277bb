/**
 * Bench-only preload (never part of the agent): `node --import ./bench/mem-probe.mjs …` appends one
 * JSON line of `process.memoryUsage()` plus V8's new/old space sizes to $MEM_PROBE_FILE every
 * $MEM_PROBE_MS (250) ms, so a bench can tell the JS heap (used / committed) from external
 * buffers and from what RSS holds beyond both (malloc arenas, code). `SIGUSR2` writes a heap
 * snapshot next to the file (`v8.writeHeapSnapshot`).
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';

const file = process.env.MEM_PROBE_FILE;
if (file !== undefined && file !== '') {
  const every = Number(process.env.MEM_PROBE_MS ?? 250);
  const mb = (n) => Math.round(n / 1e5) / 10;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s]));
    appendFileSync(
      file,
      `${JSON.stringify({
        t: Date.now(),
        rss: mb(m.rss),
        heap_total: mb(m.heapTotal),
        heap_used: mb(m.heapUsed),
        external: mb(m.external),
        array_buffers: mb(m.arrayBuffers),
        new_space: mb(spaces.new_space?.space_size ?? 0),
        old_space: mb(spaces.old_space?.space_size ?? 0),
        large_object_space: mb(spaces.large_object_space?.space_size ?? 0),
      })}\n`,
    );
  }, every);
  timer.unref();
  process.on('SIGUSR2', () => {
    v8.writeHeapSnapshot(path.join(path.dirname(file), `agent-${Date.now()}.heapsnapshot`));
  });
}
