/**
 * Nodes and edges of a machine definition, as plain JSON: what the inspector draws. The transitions
 * come from `xstate/graph`'s `toDirectedGraph`; eventless (`always`) transitions, which it leaves
 * out, are added from each state node.
 */
import type { AnyStateMachine } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';

/** A state of the chart. `id` is xstate's state node id (`machine.parent.child` unless set explicitly). */
export interface ChartNode {
  readonly id: string;
  /** Keys from the root, e.g. `['connected', 'idle']`; empty for the root. */
  readonly path: readonly string[];
  readonly key: string;
  readonly parent: string | undefined;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  readonly initial: boolean;
  readonly description: string | undefined;
  readonly tags: readonly string[];
  /** Ids of the actors invoked while in this state. */
  readonly invokes: readonly string[];
}

/** A transition of the chart (one per target; a targetless transition points at its source). */
export interface ChartEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** The raw event type (`xstate.after.5000.…`, `xstate.done.actor.x`, `''` for `always`). */
  readonly event: string;
  /** A short label for the drawing (`after 5000ms`, `done: x`, `always`). */
  readonly label: string;
  readonly guard: string | undefined;
  /** Targetless: runs actions without leaving the state. */
  readonly internal: boolean;
}

/** The graph of one machine definition. */
export interface MachineGraph {
  readonly machineId: string;
  readonly nodes: readonly ChartNode[];
  readonly edges: readonly ChartEdge[];
}

interface StateNodeLike {
  id: string;
  key: string;
  path: string[];
  type: ChartNode['type'];
  description?: string;
  tags: string[];
  parent?: StateNodeLike;
  initial?: { target: ReadonlyArray<StateNodeLike> };
  invoke: ReadonlyArray<{ id: string }>;
  always?: ReadonlyArray<TransitionLike>;
}

interface TransitionLike {
  eventType: string;
  target?: ReadonlyArray<StateNodeLike>;
  guard?: unknown;
}

/**
 * Extracts the nodes and edges of `machine`.
 *
 * @example
 * const graph = extractMachineGraph(connectionMachine);
 * graph.nodes.map((n) => n.id); // ['connection', 'connection.connecting', …]
 */
export function extractMachineGraph(machine: AnyStateMachine): MachineGraph {
  const nodes: ChartNode[] = [];
  const edges: ChartEdge[] = [];
  const visit = (graphNode: DirectedGraphNode): void => {
    const stateNode = graphNode.stateNode as unknown as StateNodeLike;
    nodes.push(chartNode(stateNode));
    for (const edge of graphNode.edges) {
      const transition = edge.transition as unknown as TransitionLike;
      const source = (edge.source as unknown as StateNodeLike).id;
      edges.push(chartEdge(edge.id, source, (edge.target as unknown as StateNodeLike).id, transition));
    }
    (stateNode.always ?? []).forEach((transition, i) => {
      const targets = transition.target && transition.target.length > 0 ? transition.target : [stateNode];
      targets.forEach((target, j) => edges.push(chartEdge(`${stateNode.id}:always:${i}:${j}`, stateNode.id, target.id, transition)));
    });
    graphNode.children.forEach(visit);
  };
  visit(toDirectedGraph(machine));
  return { machineId: machine.id, nodes, edges };
}

function chartNode(stateNode: StateNodeLike): ChartNode {
  const parent = stateNode.parent;
  return {
    id: stateNode.id,
    path: [...stateNode.path],
    key: stateNode.key,
    parent: parent?.id,
    type: stateNode.type,
    initial: parent?.initial?.target.some((t) => t.id === stateNode.id) ?? false,
    description: stateNode.description,
    tags: [...stateNode.tags].sort(),
    invokes: stateNode.invoke.map((i) => i.id),
  };
}

function chartEdge(id: string, source: string, target: string, transition: TransitionLike): ChartEdge {
  return {
    id,
    source,
    target,
    event: transition.eventType,
    label: edgeLabel(transition.eventType),
    guard: guardName(transition.guard),
    internal: transition.target === undefined || transition.target.length === 0,
  };
}

/** Turns xstate's generated event names into what a reader of the chart expects to see. */
export function edgeLabel(eventType: string): string {
  if (eventType === '') return 'always';
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return /^\d+$/.test(after[1] as string) ? `after ${after[1]}ms` : `after ${after[1]}`;
  if (eventType.startsWith('xstate.done.actor.')) return `done: ${eventType.slice('xstate.done.actor.'.length)}`;
  if (eventType.startsWith('xstate.error.actor.')) return `error: ${eventType.slice('xstate.error.actor.'.length)}`;
  if (eventType.startsWith('xstate.done.state.')) return 'done';
  return eventType;
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name && guard.name !== 'guard' ? guard.name : 'guard';
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

/** Path → state id, built once per graph (the inspector asks on every update). */
const pathIndexes = new WeakMap<MachineGraph, Map<string, string>>();

/**
 * The ids of the chart nodes active for a snapshot `value` (every ancestor included).
 *
 * @example
 * activeNodeIds(graph, { connected: 'idle' }); // ['m', 'm.connected', 'm.connected.idle']
 */
export function activeNodeIds(graph: MachineGraph, value: unknown): string[] {
  let byPath = pathIndexes.get(graph);
  if (!byPath) {
    byPath = new Map(graph.nodes.map((n) => [n.path.join('\u0000'), n.id]));
    pathIndexes.set(graph, byPath);
  }
  const index = byPath;
  const active: string[] = [];
  const add = (path: string[]): void => {
    const id = index.get(path.join('\u0000'));
    if (id !== undefined) active.push(id);
  };
  const walk = (v: unknown, path: string[]): void => {
    add(path);
    if (typeof v === 'string') add([...path, v]);
    else if (v !== null && typeof v === 'object') for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
  };
  walk(value, []);
  return active;
}
