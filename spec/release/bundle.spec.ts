/**
 * The release bundle (scripts/release.mjs `bundle`): builds with zero esbuild warnings, keeps no
 * `import()` (a SEA main script cannot run one), carries the build facts, and reaches the
 * inspector and elkjs only through dynamic imports, so a plain `run` never evaluates them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../scripts/release.mjs';

const BUILD_INFO = { version: '9.9.3-bundle', commit: 'abcdef123456', built_at: '2026-01-01T00:00:00.000Z' };
const STATIC_KINDS = new Set(['import-statement', 'require-call', 'entry-point']);

let dir: string;
let file: string;
let metafile: Metafile;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kanade-bundle-'));
  ({ file, metafile } = await bundle({ buildInfo: BUILD_INFO, outFile: join(dir, 'kanade-agent.cjs') }));
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Inputs reachable from the entry through static imports and requires only. */
function staticClosure(meta: Metafile): Set<string> {
  const output = Object.values(meta.outputs)[0]!;
  const entry = Object.keys(meta.inputs).find((name) => name.endsWith('sea-entry.ts')) ?? output.entryPoint!;
  const seen = new Set<string>([entry]);
  const queue = [entry];
  for (let at = queue.pop(); at !== undefined; at = queue.pop()) {
    for (const edge of meta.inputs[at]?.imports ?? []) {
      if (edge.external || !STATIC_KINDS.has(edge.kind) || seen.has(edge.path)) continue;
      seen.add(edge.path);
      queue.push(edge.path);
    }
  }
  return seen;
}

describe('the release bundle', () => {
  it('holds the build facts and no dynamic import()', async () => {
    const text = await readFile(file, 'utf8');
    expect(text).toContain(JSON.stringify(BUILD_INFO.version));
    expect(text).toContain(BUILD_INFO.commit);
    expect(text).not.toMatch(/[^\w$.]import\(/);
    expect(text).not.toContain('import.meta');
  });

  it('reaches elkjs, the inspector and the supervisor tree only through dynamic imports', () => {
    const reachable = [...staticClosure(metafile)];
    expect(reachable.length).toBeGreaterThan(20);
    expect(reachable.filter((p) => p.includes('node_modules/elkjs/'))).toEqual([]);
    expect(reachable.filter((p) => p.startsWith('devtools/inspector/'))).toEqual([]);
    expect(reachable).not.toContain('supervisor/run-agent.ts');
    // …while they are in the bundle.
    expect(Object.keys(metafile.inputs).some((p) => p.includes('node_modules/elkjs/'))).toBe(true);
    expect(Object.keys(metafile.inputs)).toContain('devtools/inspector/inspector-server.ts');
  });
});
