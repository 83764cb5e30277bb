/**
 * Lays a machine graph out with elkjs (layered, hierarchical) into absolute rectangles and edge
 * polylines, ready to be drawn as SVG. The same code serves `kanade-agent charts` and the inspector.
 */
import elkBundled from 'elkjs/lib/elk.bundled.js';
import type { ELK, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { ChartEdge, ChartNode, MachineGraph } from './machine-graph.js';

/** Font size of state names, in px; the SVG renderer uses the same. */
export const CHART_FONT_PX = 12;
/** Font size of edge labels, tags and invokes, in px. */
export const CHART_SMALL_FONT_PX = 10;
/** Height of one text line inside a state, in px. */
export const CHART_LINE_PX = 14;
/** Room above a compound state's children for its name, in px. */
const COMPOUND_HEADER_PX = 30;
const NODE_PADDING_PX = 10;

/** A laid-out state: absolute position and size. */
export interface PlacedNode extends ChartNode {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Whether it contains other states (drawn as a frame with its name on top). */
  readonly container: boolean;
}

/**
 * A laid-out arrow: the transitions between one source and one target (of the same kind) share
 * one arrow with one label line each, so a state handling many events in place is not a knot of
 * loops. Coordinates are absolute.
 */
export interface PlacedEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly internal: boolean;
  /** Ids of the graph edges drawn by this arrow. */
  readonly edgeIds: readonly string[];
  readonly events: readonly string[];
  readonly points: ReadonlyArray<{ x: number; y: number }>;
  readonly labelBox: { x: number; y: number; width: number; height: number; lines: readonly string[] } | undefined;
}

/** A machine chart with every coordinate absolute. */
export interface ChartLayout {
  readonly machineId: string;
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
}

// elk.bundled.js is CommonJS with `module.exports = ELK` and `.default = ELK`; its typings say
// `export default`, which NodeNext reads as the namespace, hence the cast.
const ElkConstructor = elkBundled as unknown as new () => ELK;
const elk = new ElkConstructor();

/** Approximate text width for sans-serif at `fontPx` (no DOM on the server side). */
export function textWidth(text: string, fontPx: number): number {
  return Math.ceil(text.length * fontPx * 0.6);
}

/** The secondary lines drawn inside a state: its tags and invoked actors. */
export function nodeDetailLines(node: ChartNode): string[] {
  const lines: string[] = [];
  if (node.tags.length > 0) lines.push(node.tags.map((t) => `#${t}`).join(' '));
  for (const invoke of node.invokes) lines.push(`⚙ ${invoke}`);
  return lines;
}

/** The text of an edge's label (event, plus guard in brackets). */
export function edgeLabelText(edge: ChartEdge): string {
  return edge.guard ? `${edge.label} [${edge.guard}]` : edge.label;
}

/**
 * Computes the layout of `graph`.
 *
 * @example
 * const layout = await layoutMachineGraph(extractMachineGraph(machine));
 */
export async function layoutMachineGraph(graph: MachineGraph): Promise<ChartLayout> {
  const childrenOf = new Map<string | undefined, ChartNode[]>();
  for (const node of graph.nodes) {
    const list = childrenOf.get(node.parent) ?? [];
    list.push(node);
    childrenOf.set(node.parent, list);
  }
  const toElk = (node: ChartNode): ElkNode => {
    const children = childrenOf.get(node.id) ?? [];
    const lines = nodeDetailLines(node);
    const textW = Math.max(textWidth(node.key || graph.machineId, CHART_FONT_PX), ...lines.map((l) => textWidth(l, CHART_SMALL_FONT_PX)));
    if (children.length === 0) {
      return { id: node.id, width: textW + 2 * NODE_PADDING_PX, height: 2 * NODE_PADDING_PX + CHART_LINE_PX * (1 + lines.length) };
    }
    const header = COMPOUND_HEADER_PX + CHART_LINE_PX * lines.length;
    return {
      id: node.id,
      children: children.map(toElk),
      layoutOptions: {
        'elk.padding': `[top=${header},left=${NODE_PADDING_PX},bottom=${NODE_PADDING_PX},right=${NODE_PADDING_PX}]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${textW + 2 * NODE_PADDING_PX}, ${header + NODE_PADDING_PX})`,
      },
    };
  };
  const root = graph.nodes.find((n) => n.parent === undefined);
  if (!root) throw new Error(`machine ${graph.machineId} has no root state`);
  const groups = new Map<string, ChartEdge[]>();
  for (const edge of graph.edges) {
    const key = `${edge.source}\u0000${edge.target}\u0000${edge.internal}`;
    const group = groups.get(key) ?? [];
    group.push(edge);
    groups.set(key, group);
  }
  const arrows = [...groups.values()].map((members) => ({ id: (members[0] as ChartEdge).id, members, lines: members.map(edgeLabelText) }));
  const edges: ElkExtendedEdge[] = arrows.map((arrow) => {
    const first = arrow.members[0] as ChartEdge;
    return {
      id: arrow.id,
      sources: [first.source],
      targets: [first.target],
      labels: [
        {
          id: `${arrow.id}#label`,
          text: arrow.lines.join('\n'),
          width: Math.max(...arrow.lines.map((l) => textWidth(l, CHART_SMALL_FONT_PX))) + 4,
          height: arrow.lines.length * (CHART_SMALL_FONT_PX + 3) + 2,
        },
      ],
    };
  });
  const laidOut = await elk.layout({
    id: '__chart',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
    },
    children: [toElk(root)],
    edges,
  });

  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const placed: PlacedNode[] = [];
  const collect = (elkNode: ElkNode): void => {
    const node = byId.get(elkNode.id);
    if (node) {
      placed.push({
        ...node,
        x: elkNode.x ?? 0,
        y: elkNode.y ?? 0,
        width: elkNode.width ?? 0,
        height: elkNode.height ?? 0,
        container: (elkNode.children?.length ?? 0) > 0,
      });
    }
    elkNode.children?.forEach(collect);
  };
  collect(laidOut as ElkNode);
  const elkEdges = new Map(((laidOut.edges ?? []) as ElkExtendedEdge[]).map((e) => [e.id, e]));
  const placedEdges: PlacedEdge[] = arrows.map((arrow) => {
    const first = arrow.members[0] as ChartEdge;
    const elkEdge = elkEdges.get(arrow.id);
    const section = elkEdge?.sections?.[0];
    const points = section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint] : [];
    const label = elkEdge?.labels?.[0];
    return {
      id: arrow.id,
      source: first.source,
      target: first.target,
      internal: first.internal,
      edgeIds: arrow.members.map((m) => m.id),
      events: arrow.members.map((m) => m.event),
      points: points.map((p) => ({ x: p.x, y: p.y })),
      labelBox: label
        ? { x: label.x ?? 0, y: label.y ?? 0, width: label.width ?? 0, height: label.height ?? 0, lines: arrow.lines }
        : undefined,
    };
  });
  const size = laidOut as ElkNode;
  return { machineId: graph.machineId, width: size.width ?? 0, height: size.height ?? 0, nodes: placed, edges: placedEdges };
}
