import { describe, expect, it } from 'vitest';
import { assign, fromPromise, setup, type AnyStateMachine } from 'xstate';
import { activeNodeIds, edgeLabel, extractMachineGraph } from '../../devtools/inspector/machine-graph.js';
import { MACHINE_CATALOG } from '../../supervisor/machine-catalog.js';

/**
 * The expected graph, computed from the machine's *config* (not from xstate's state nodes or
 * xstate/graph), so the extraction is checked against the definition a reader wrote.
 */
type Cfg = Record<string, unknown>;
const asArray = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function expectedFromConfig(machine: AnyStateMachine): {
  nodes: Map<string, { parent: string | undefined; tags: string[]; description: string | undefined }>;
  edges: string[];
} {
  const nodes = new Map<string, { parent: string | undefined; tags: string[]; description: string | undefined }>();
  const edges: string[] = [];
  // xstate: a state's id is its explicit `id`, else the machine id and the key path joined by '.'.
  const visit = (cfg: Cfg, id: string, parent: string | undefined, path: string[]): void => {
    nodes.set(id, {
      parent,
      tags: (asArray(cfg['tags']) as string[]).slice().sort(),
      description: cfg['description'] as string | undefined,
    });
    const transitions = (event: string, spec: unknown): void => {
      const list = spec === undefined || spec === null ? [{}] : asArray(spec);
      for (const t of list) {
        const targets = typeof t === 'string' ? [t] : asArray((t as Cfg)['target']);
        const guard = typeof t === 'object' && t !== null ? (t as Cfg)['guard'] : undefined;
        const guardText =
          guard === undefined ? '' : ` [${typeof guard === 'string' ? guard : ((guard as { type?: string }).type ?? 'guard')}]`;
        for (let i = 0; i < Math.max(1, targets.length); i += 1) edges.push(`${id} --${edgeLabel(event)}${guardText}`);
      }
    };
    for (const [event, spec] of Object.entries((cfg['on'] as Cfg | undefined) ?? {})) transitions(event, spec);
    for (const [delay, spec] of Object.entries((cfg['after'] as Cfg | undefined) ?? {})) transitions(`xstate.after.${delay}.${id}`, spec);
    if (cfg['always'] !== undefined) transitions('', cfg['always']);
    if (cfg['onDone'] !== undefined) transitions(`xstate.done.state.${id}`, cfg['onDone']);
    for (const inv of asArray(cfg['invoke']) as Cfg[]) {
      if (inv['onDone'] !== undefined) transitions(`xstate.done.actor.${String(inv['id'])}`, inv['onDone']);
      if (inv['onError'] !== undefined) transitions(`xstate.error.actor.${String(inv['id'])}`, inv['onError']);
      if (inv['onSnapshot'] !== undefined) transitions(`xstate.snapshot.${String(inv['id'])}`, inv['onSnapshot']);
    }
    for (const [key, child] of Object.entries((cfg['states'] as Record<string, Cfg> | undefined) ?? {})) {
      visit(child, (child['id'] as string | undefined) ?? [machine.id, ...path, key].join('.'), id, [...path, key]);
    }
  };
  visit(machine.config as Cfg, machine.id, undefined, []);
  return { nodes, edges: edges.sort() };
}

function checkAgainstConfig(machine: AnyStateMachine): void {
  const graph = extractMachineGraph(machine);
  const expected = expectedFromConfig(machine);
  expect(graph.nodes.map((n) => n.id).sort()).toEqual([...expected.nodes.keys()].sort());
  for (const node of graph.nodes) {
    const want = expected.nodes.get(node.id)!;
    expect({ id: node.id, parent: node.parent, tags: node.tags, description: node.description }).toEqual({ id: node.id, ...want });
  }
  const byId = new Set(graph.nodes.map((n) => n.id));
  for (const edge of graph.edges) {
    expect(byId.has(edge.source), `${edge.id} source`).toBe(true);
    expect(byId.has(edge.target), `${edge.id} target`).toBe(true);
  }
  const actual = graph.edges.map((e) => `${e.source} --${e.label}${e.guard ? ` [${e.guard}]` : ''}`).sort();
  expect(actual).toEqual(expected.edges);
}

const sample = setup({
  types: { context: {} as { n: number } },
  actors: { work: fromPromise(async () => 1) },
  guards: { isReady: () => true },
  delays: { retryDelay: 500 },
}).createMachine({
  id: 'sample',
  context: { n: 0 },
  initial: 'idle',
  on: { shutdown: '.stopped' },
  states: {
    idle: {
      tags: ['healthy'],
      on: {
        go: [{ target: 'working', guard: 'isReady' }, { target: 'waiting' }],
        poke: { actions: assign({ n: ({ context }) => context.n + 1 }) },
      },
    },
    waiting: { description: 'not ready yet', after: { retryDelay: 'idle', 1000: 'stopped' } },
    working: {
      tags: ['busy'],
      invoke: { id: 'work', src: 'work', onDone: 'both', onError: { target: 'idle' } },
    },
    both: {
      type: 'parallel',
      states: {
        left: { id: 'leftRegion', initial: 'a', states: { a: { on: { next: 'b' } }, b: { type: 'final' } } },
        right: { initial: 'c', states: { c: { always: { target: 'd', guard: 'isReady' } }, d: { type: 'final' } } },
      },
      onDone: 'stopped',
    },
    stopped: { type: 'final' },
  },
});

describe('extractMachineGraph', () => {
  it('has every state of a sample machine with its parent, tags, description and invokes', () => {
    const graph = extractMachineGraph(sample);
    expect(graph.machineId).toBe('sample');
    const byId = new Map(graph.nodes.map((n) => [n.id, n]));
    expect(byId.get('sample')?.parent).toBeUndefined();
    expect(byId.get('sample.idle')).toMatchObject({ initial: true, tags: ['healthy'], type: 'atomic', path: ['idle'] });
    expect(byId.get('sample.waiting')?.description).toBe('not ready yet');
    expect(byId.get('sample.working')?.invokes).toEqual(['work']);
    expect(byId.get('sample.both')?.type).toBe('parallel');
    expect(byId.get('leftRegion')).toMatchObject({ parent: 'sample.both', path: ['both', 'left'] });
    expect(byId.get('sample.both.left.b')?.type).toBe('final');
    checkAgainstConfig(sample);
  });

  it('labels generated events the way a reader wrote them (after, done, error, always, guards)', () => {
    const labels = extractMachineGraph(sample).edges.map((e) => `${e.source}->${e.target}:${e.label}${e.guard ? `[${e.guard}]` : ''}`);
    expect(labels).toEqual(
      expect.arrayContaining([
        'sample->sample.stopped:shutdown',
        'sample.idle->sample.working:go[isReady]',
        'sample.idle->sample.waiting:go',
        'sample.idle->sample.idle:poke',
        'sample.waiting->sample.idle:after retryDelay',
        'sample.waiting->sample.stopped:after 1000ms',
        'sample.working->sample.both:done: work',
        'sample.working->sample.idle:error: work',
        'sample.both.right.c->sample.both.right.d:always[isReady]',
        'sample.both->sample.stopped:done',
      ]),
    );
    expect(extractMachineGraph(sample).edges.find((e) => e.label === 'poke')?.internal).toBe(true);
  });

  it.each(Object.entries(MACHINE_CATALOG))('matches the definition of catalog machine %s', (_name, machine) => {
    checkAgainstConfig(machine);
  });

  it('maps a snapshot value to the active state ids, ancestors included', () => {
    const graph = extractMachineGraph(sample);
    expect(activeNodeIds(graph, 'idle')).toEqual(['sample', 'sample.idle']);
    expect(activeNodeIds(graph, { both: { left: 'a', right: 'd' } }).sort()).toEqual(
      ['sample', 'sample.both', 'leftRegion', 'sample.both.left.a', 'sample.both.right', 'sample.both.right.d'].sort(),
    );
  });
});
