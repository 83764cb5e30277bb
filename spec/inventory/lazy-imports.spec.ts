/**
 * Idle weight (issue #15 item 3, docs/PERFORMANCE.md): the resident tree does not load the
 * inventory's heavy libraries at start — systeminformation is imported with the first collection,
 * node-powershell with the first PowerShell command (never on Linux/macOS). A child Node process
 * imports the compiled tree (dist/) with a module hook that reports every resolved URL.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dist = (p: string) => pathToFileURL(fileURLToPath(new URL(`../../dist/${p}`, import.meta.url))).href;

/** Module URLs resolved while importing `urls` in a fresh Node process (in import order). */
async function resolvedWhileImporting(urls: readonly string[]): Promise<string[]> {
  const hook =
    'let port; export function initialize(d) { port = d.port; } ' +
    'export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }';
  const script = `
    import { register } from 'node:module';
    import { MessageChannel } from 'node:worker_threads';
    const { port1, port2 } = new MessageChannel();
    const seen = [];
    const END = 'data:text/javascript,export%20default%201%3B%2F%2Fend';
    const done = new Promise((resolve) => port1.on('message', (url) => { if (url === END) resolve(); else seen.push(url); }));
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { port: port2 }, transferList: [port2] });
    for (const url of ${JSON.stringify(urls)}) await import(url);
    await import(END);
    // Messages from the hook thread arrive in order: once the marker is in, every earlier URL is too.
    await done;
    process.stdout.write(JSON.stringify(seen));
    process.exit(0);
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as string[];
}

describe('lazy imports of the resident tree', () => {
  it('starting the tree (supervisor, every child, the run command) loads neither systeminformation, node-powershell nor fs-extra', async () => {
    const seen = await resolvedWhileImporting([dist('bin/cli.js'), dist('bin/commands/run.js'), dist('supervisor/run-agent.js')]);
    // The hook really saw the tree: its children and their libraries.
    expect(seen.some((u) => u.endsWith('/dist/supervisor/children.js'))).toBe(true);
    expect(seen.some((u) => u.endsWith('/dist/actors/inventory/posix-collector.js'))).toBe(true);
    expect(seen.some((u) => u.includes('/node_modules/xstate/'))).toBe(true);
    expect(seen.filter((u) => /\/node_modules\/(systeminformation|node-powershell|fs-extra|graceful-fs)\//.test(u))).toEqual([]);
  });
});
