/**
 * Draws a laid-out machine chart as a self-contained SVG string. Every state is a
 * `<g class="state" data-state="<state node id>">`, so the inspector page highlights the current
 * state(s) by toggling an `active` class; `kanade-agent charts` writes the same SVG to files.
 */
import type { AnyStateMachine } from 'xstate';
import {
  CHART_FONT_PX,
  CHART_LINE_PX,
  CHART_SMALL_FONT_PX,
  layoutMachineGraph,
  nodeDetailLines,
  type ChartLayout,
  type PlacedNode,
} from './chart-layout.js';
import { extractMachineGraph } from './machine-graph.js';

/** Styles embedded in each SVG (the same rules serve the inspector page, where the SVGs are inline). */
export const CHART_CSS = [
  '.kc text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;fill:#1f2328}',
  `.kc .name{font-size:${CHART_FONT_PX}px;font-weight:600}`,
  `.kc .detail,.kc .elabel{font-size:${CHART_SMALL_FONT_PX}px;fill:#57606a}`,
  '.kc .state>rect.box{fill:#f6f8fa;stroke:#8c959f;stroke-width:1}',
  '.kc .state.container>rect.box{fill:#ffffff08;stroke:#afb8c1}',
  '.kc .state.parallel-region>rect.box{stroke-dasharray:4 3}',
  '.kc .state.final>rect.inner{fill:none;stroke:#8c959f}',
  '.kc .state .initial{fill:#57606a}',
  '.kc .edge path{fill:none;stroke:#6e7781;stroke-width:1.2}',
  '.kc .edge.internal path{stroke-dasharray:3 3}',
  '.kc .elabel-bg{fill:#ffffff;opacity:.85}',
  '.kc .state.active>rect.box{fill:#fff1b8;stroke:#d48806;stroke-width:2.5}',
  '.kc .state.container.active>rect.box{fill:#fffbe6}',
  // The root is always active; highlighting it would only hide which state the machine is in.
  '.kc .state.root.active>rect.box{fill:#ffffff;stroke:#afb8c1;stroke-width:1}',
].join('\n');

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const r = (n: number): string => String(Math.round(n * 10) / 10);

/**
 * Renders `layout` as SVG; `active` state ids get the `active` class (for a static snapshot).
 *
 * @example
 * writeFileSync('connection.svg', renderChartSvg(await layoutMachineGraph(extractMachineGraph(m))));
 */
export function renderChartSvg(layout: ChartLayout, active: ReadonlySet<string> = new Set()): string {
  const parents = new Map(layout.nodes.map((n) => [n.id, n]));
  const ordered = [...layout.nodes].sort((a, b) => a.path.length - b.path.length);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="kc" data-machine="${escapeXml(layout.machineId)}" width="${r(layout.width)}" height="${r(layout.height)}" viewBox="0 0 ${r(layout.width)} ${r(layout.height)}">`,
    `<style>${CHART_CSS}</style>`,
    '<defs><marker id="kc-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#6e7781"/></marker></defs>',
  ];
  for (const node of ordered) out.push(renderNode(node, parents.get(node.parent ?? '')?.type === 'parallel', active.has(node.id)));
  for (const edge of layout.edges) {
    if (edge.points.length < 2) continue;
    const d = edge.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${r(p.x)} ${r(p.y)}`).join('');
    const cls = edge.internal ? 'edge internal' : 'edge';
    out.push(
      `<g class="${cls}" data-edge="${escapeXml(edge.edgeIds.join(' '))}" data-event="${escapeXml(edge.events.join(' '))}"><path d="${d}" marker-end="url(#kc-arrow)"/></g>`,
    );
  }
  for (const edge of layout.edges) {
    const box = edge.labelBox;
    if (!box || box.lines.length === 0) continue;
    const lines = box.lines.map(
      (line, i) =>
        `<text class="elabel" x="${r(box.x + 2)}" y="${r(box.y + (i + 1) * (CHART_SMALL_FONT_PX + 3) - 2)}">${escapeXml(line)}</text>`,
    );
    out.push(
      `<g class="edge-label"><rect class="elabel-bg" x="${r(box.x)}" y="${r(box.y)}" width="${r(box.width)}" height="${r(box.height)}" rx="2"/>${lines.join('')}</g>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}

function renderNode(node: PlacedNode, region: boolean, active: boolean): string {
  const classes = ['state', node.type];
  if (node.parent === undefined) classes.push('root');
  if (node.container) classes.push('container');
  if (region) classes.push('parallel-region');
  if (active) classes.push('active');
  const title = [node.id, node.description].filter(Boolean).join(' — ');
  const parts = [
    `<g class="${classes.join(' ')}" data-state="${escapeXml(node.id)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect class="box" x="${r(node.x)}" y="${r(node.y)}" width="${r(node.width)}" height="${r(node.height)}" rx="6"/>`,
  ];
  if (node.type === 'final') {
    parts.push(
      `<rect class="inner" x="${r(node.x + 3)}" y="${r(node.y + 3)}" width="${r(node.width - 6)}" height="${r(node.height - 6)}" rx="4"/>`,
    );
  }
  if (node.initial) parts.push(`<circle class="initial" cx="${r(node.x + 5)}" cy="${r(node.y + 5)}" r="3"/>`);
  const cx = node.x + node.width / 2;
  const name = node.type === 'history' ? `${node.key} (H)` : node.key;
  const top = node.container ? node.y + 10 : node.y + 10;
  parts.push(`<text class="name" x="${r(cx)}" y="${r(top + CHART_FONT_PX)}" text-anchor="middle">${escapeXml(name)}</text>`);
  nodeDetailLines(node).forEach((line, i) => {
    parts.push(
      `<text class="detail" x="${r(cx)}" y="${r(top + CHART_FONT_PX + CHART_LINE_PX * (i + 1))}" text-anchor="middle">${escapeXml(line)}</text>`,
    );
  });
  parts.push('</g>');
  return parts.join('');
}

/**
 * Extracts, lays out and renders one machine in one call.
 *
 * @example
 * const svg = await machineChartSvg(connectionMachine);
 */
export async function machineChartSvg(machine: AnyStateMachine): Promise<string> {
  return renderChartSvg(await layoutMachineGraph(extractMachineGraph(machine)));
}
