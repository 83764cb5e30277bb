/**
 * The tree as data (supervisor/children.ts) and docs/architecture.md say the same thing: the
 * children in start order with their restart types and graces, and each machine's events.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import { CHILDREN } from '../../supervisor/children.js';
import { MACHINE_CATALOG } from '../../supervisor/machine-catalog.js';
import { SHUTDOWN_BUDGET_MS } from '../../supervisor/root-machine.js';

const DOC = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/architecture.md'), 'utf8');
const cells = (line: string): string[] =>
  line
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim().replace(/`/g, ''));

/** Every event a machine handles anywhere in its chart (xstate's own events aside), sorted. */
function eventsOf(machine: AnyStateMachine): string[] {
  const events = new Set<string>();
  const walk = (node: { ownEvents?: string[]; states?: Record<string, unknown> }): void => {
    for (const event of node.ownEvents ?? []) if (!event.startsWith('xstate.')) events.add(event);
    for (const child of Object.values(node.states ?? {})) walk(child as typeof node);
  };
  walk(machine.root as unknown as { ownEvents?: string[]; states?: Record<string, unknown> });
  return [...events].sort();
}

describe('supervisor/children.ts: the whole tree in one list', () => {
  const rows = CHILDREN.map((c) => [c.id, c.restart, c.shutdownMs]);

  it('ids are unique, every grace fits the stop budget, the executor stops first and the connection last', () => {
    expect(new Set(CHILDREN.map((c) => c.id)).size).toBe(CHILDREN.length);
    for (const child of CHILDREN) expect(child.shutdownMs).toBeGreaterThan(0);
    expect(Math.max(...CHILDREN.map((c) => c.shutdownMs))).toBeLessThanOrEqual(SHUTDOWN_BUDGET_MS);
    expect(CHILDREN.at(-1)?.id).toBe('executor');
    expect(CHILDREN[0]?.id).toBe('connection');
  });

  it("docs/architecture.md's tree table lists the same children, in order, with the same restart type and grace", () => {
    const table = DOC.split('\n')
      .filter((l) => /^\| `[a-z-]+` \| `\w+Machine` \|/.test(l))
      .map(cells);
    expect(table.map(([id, , restart, grace]) => [id, restart, Number(grace)])).toEqual(rows);
  });

  it("docs/architecture.md's tree picture says the same", () => {
    const picture = [...DOC.matchAll(/── ([a-z-]+)\s+\w+Machine\s+(permanent|transient|temporary)\s+(\d+) s/g)];
    expect(picture.map((m) => [m[1], m[2], Number(m[3]) * 1000])).toEqual(rows);
  });
});

describe('docs/architecture.md: events per machine', () => {
  const documented = new Map(
    DOC.split('\n')
      .filter((l) => /^\| [a-z-]+ \| `/.test(l))
      .map((l) => {
        const [name, events] = cells(l);
        return [
          name!,
          events!
            .split(',')
            .map((e) => e.trim())
            .sort(),
        ];
      }),
  );

  it.each(Object.entries(MACHINE_CATALOG))('%s', (name, machine) => {
    expect(documented.get(name)).toEqual(eventsOf(machine));
  });
});
