// Peak RSS of capturing a command that writes 1 GiB to stdout (issue #13 item 7): the capture keeps
// 8 MiB per stream (OutputCapture), so the peak above idle should stay small.
// Usage: npx tsc -p tsconfig.json && node bench/capture-memory.mjs [bytes]
import { startProcess } from '../dist/actors/exec/run-process.js';

const bytes = Number(process.argv[2] ?? 1024 ** 3);
global.gc?.();
const idleMb = process.resourceUsage().maxRSS / 1024;
const started = Date.now();
const proc = await startProcess({ shell: 'sh', script: `head -c ${bytes} /dev/zero` });
const outcome = await proc.done;
const peakMb = process.resourceUsage().maxRSS / 1024;
console.log(
  JSON.stringify({
    bytes,
    exit: outcome.kind === 'exited' ? outcome.exitCode : outcome.error,
    captured_chars: outcome.kind === 'exited' ? outcome.stdout.length : 0,
    idle_rss_mb: Math.round(idleMb),
    peak_rss_mb: Math.round(peakMb),
    above_idle_mb: Math.round(peakMb - idleMb),
    seconds: (Date.now() - started) / 1000,
  }),
);
