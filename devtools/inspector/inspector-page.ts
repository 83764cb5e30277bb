/**
 * The inspector's single page: HTML, CSS and vanilla JS in one string, served by the agent itself
 * (no CDN, no fonts, no network beyond this loopback origin). It draws the actor tree, one card per
 * supervisor child with its server-rendered chart (current states highlighted), cards for actors
 * opened by click, and the event log, all fed by the `/events` SSE stream.
 */
import { escapeXml } from './chart-svg.js';

/** Content-Security-Policy of the page: nothing may load from anywhere but this origin. */
export const INSPECTOR_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'";

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;background:#f0f2f5}
header{display:flex;gap:16px;align-items:center;padding:8px 14px;background:#24292f;color:#fff}
header h1{font-size:15px;margin:0;font-weight:600}
header #health{margin-left:0}
header .stats{margin-left:auto;font-size:12px;color:#d0d7de}
#live{display:inline-block;width:9px;height:9px;border-radius:50%;background:#cf222e;margin-right:6px}
#live.on{background:#2da44e}
main{display:grid;grid-template-columns:300px 1fr;gap:10px;padding:10px;height:calc(100vh - 38px - 190px)}
aside,#log{background:#fff;border:1px solid #d0d7de;border-radius:6px;overflow:auto}
aside h2,#log h2{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#57606a;margin:8px 10px}
.actor-row{padding:4px 10px;cursor:pointer;border-left:3px solid transparent;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.actor-row:hover{background:#f6f8fa}
.actor-row.pinned{border-left-color:#0969da;background:#ddf4ff}
.actor-row.ended{color:#8c959f}
.actor-row .helpers{font-size:11px;color:#8c959f;overflow:hidden;text-overflow:ellipsis}
.actor-row .st{color:#57606a;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.badge{display:inline-block;padding:0 5px;border-radius:8px;font-size:11px;background:#eaeef2;color:#57606a;margin-left:4px}
.badge.healthy{background:#dafbe1;color:#1a7f37}.badge.degraded{background:#fff8c5;color:#9a6700}.badge.busy{background:#ddf4ff;color:#0969da}
.badge.backoff,.badge.error{background:#ffebe9;color:#cf222e}
#cards{overflow:auto;display:flex;flex-wrap:wrap;gap:10px;align-content:flex-start}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;flex:1 1 420px;min-width:0}
.card.ended{opacity:.7}
.card h3{margin:0 0 2px;font-size:14px}
.card .meta{font-size:12px;color:#57606a;margin-bottom:6px}
.card .trail{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-size:11px;color:#8c959f;margin-bottom:4px;font-family:ui-monospace,Menlo,Consolas,monospace}
.card .value{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.card details{font-size:12px;margin-bottom:6px}
.card pre,#log pre{margin:0;font:11px/1.35 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.card .chart{overflow:auto;max-height:520px}
.card .chart svg{max-width:100%;height:auto}
.card .chart.zoom svg{max-width:none}
#log{margin:0 10px 10px;height:180px}
#log .bar{display:flex;gap:8px;align-items:center;position:sticky;top:0;background:#fff;padding:0 10px 4px}
#log table{border-collapse:collapse;width:100%;font-size:12px;table-layout:fixed}
#log col.c-time{width:108px}#log col.c-actor{width:170px}#log col.c-kind{width:64px}#log col.c-type{width:240px}
#log td{border-top:1px solid #eaeef2;padding:2px 8px;vertical-align:top;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#log td pre{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#log td.k{color:#57606a;white-space:nowrap}
#log tr.state td.t{color:#9a6700}#log tr.started td.t,#log tr.ended td.t{color:#0969da}
`;

const SCRIPT = `
'use strict';
const $ = (s, el = document) => el.querySelector(s);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'})[c]);
const label = (a) => a.parent === undefined ? (a.supervision ? 'supervisor' : (a.chart || a.id)) : a.id;
const fmtValue = (v) => v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
const MAX_LOG = 500;
const charts = new Map();
const cards = new Map();
const pinned = new Set();
// Recent states per actor from the log, so a transition faster than one update is still seen.
const trails = new Map();
const TRAIL = 6;
let view = { actors: [], ended: [], stats: {} };
let log = [];

function chart(key) {
  if (!charts.has(key)) charts.set(key, fetch('/chart/' + encodeURIComponent(key) + '.svg').then((r) => r.ok ? r.text() : '<p>chart unavailable</p>'));
  return charts.get(key);
}

function byId(list) { const m = new Map(); for (const a of list) m.set(a.sessionId, a); return m; }

function shownActors() {
  const root = view.actors.find((a) => a.parent === undefined);
  const all = [...view.actors, ...view.ended];
  return all.filter((a) => a.parent === undefined || (root && a.parent === root.sessionId && !a.endedAt) || pinned.has(a.sessionId));
}

// The status report (when the agent provides one) is the supervisor's own account; else its records.
function supervisionOf(parent) {
  if (parent.parent === undefined && view.report && Array.isArray(view.report.children)) {
    const out = {};
    for (const c of view.report.children) out[c.id] = { phase: c.phase, restarts: c.restarts, nextRestartInMs: c.next_restart_in_ms };
    return out;
  }
  return parent.supervision;
}

function supervisionFor(a) {
  const parent = view.actors.find((p) => p.sessionId === a.parent);
  const sup = parent && supervisionOf(parent);
  return sup ? sup[a.id] : undefined;
}

function badges(a) {
  let out = a.tags.map((t) => '<span class="badge ' + esc(t) + '">' + esc(t) + '</span>').join('');
  const sup = supervisionFor(a);
  if (sup && sup.restarts) out += '<span class="badge" title="restarts">↻ ' + sup.restarts + '</span>';
  if (sup && sup.phase !== 'running') out += '<span class="badge ' + esc(sup.phase) + '">' + esc(sup.phase) + '</span>';
  if (a.endedAt) out += '<span class="badge ' + esc(a.status) + '">' + esc(a.status) + '</span>';
  return out;
}

function renderTree() {
  const rows = [];
  const kids = new Map();
  for (const a of view.actors) { const k = kids.get(a.parent) || []; k.push(a); kids.set(a.parent, k); }
  const walk = (a, depth) => {
    // Invoked promise/callback actors are listed on their parent's row, not as rows of their own.
    const helpers = (kids.get(a.sessionId) || []).filter((c) => c.kind !== 'machine').map((c) => c.id);
    rows.push(row(a, depth, helpers));
    const sup = supervisionOf(a);
    if (sup) {
      const liveIds = new Set((kids.get(a.sessionId) || []).map((c) => c.id));
      for (const [id, s] of Object.entries(sup)) {
        if (!liveIds.has(id)) rows.push('<div class="actor-row ended" style="padding-left:' + (10 + (depth + 1) * 14) + 'px" data-actor-id="' + esc(id) + '">' + esc(id) + ' <span class="badge ' + esc(s.phase) + '">' + esc(s.phase) + (s.nextRestartInMs != null ? ' ' + Math.ceil(s.nextRestartInMs / 1000) + 's' : '') + '</span><span class="badge">↻ ' + s.restarts + '</span></div>');
      }
    }
    for (const c of kids.get(a.sessionId) || []) if (c.kind === 'machine') walk(c, depth + 1);
  };
  for (const r of kids.get(undefined) || []) walk(r, 0);
  const ended = view.ended.slice().reverse().map((a) => row(a, 0)).join('');
  $('#tree').innerHTML = rows.join('') + (ended ? '<h2>Recently ended</h2>' + ended : '');
}

function row(a, depth, helpers) {
  const cls = 'actor-row' + (pinned.has(a.sessionId) ? ' pinned' : '') + (a.endedAt ? ' ended' : '');
  const what = a.kind === 'machine' ? a.chart : 'actor';
  return '<div class="' + cls + '" style="padding-left:' + (10 + depth * 14) + 'px" data-session="' + esc(a.sessionId) + '" data-actor-id="' + esc(a.id) + '" title="' + esc(a.id + ' (' + what + ')') + '">' +
    esc(label(a)) + ' <span class="st">' + esc(fmtValue(a.value) || a.status) + '</span>' + badges(a) +
    (helpers && helpers.length ? '<div class="helpers">⚙ ' + esc(helpers.join(' · ')) + '</div>' : '') + '</div>';
}

function renderCards() {
  const shown = shownActors();
  const keep = new Set(shown.map((a) => a.sessionId));
  for (const [sid, card] of cards) if (!keep.has(sid)) { card.el.remove(); cards.delete(sid); }
  const container = $('#cards');
  for (const a of shown) {
    let card = cards.get(a.sessionId);
    if (!card) {
      const el = document.createElement('section');
      el.className = 'card';
      el.dataset.session = a.sessionId;
      el.dataset.actorId = a.id;
      el.dataset.root = String(a.parent === undefined);
      el.innerHTML = '<h3></h3><div class="meta"></div><div class="trail"></div><details><summary>status</summary><pre></pre></details><div class="chart" title="click to zoom"></div>';
      el.querySelector('.chart').addEventListener('click', (ev) => ev.currentTarget.classList.toggle('zoom'));
      container.appendChild(el);
      card = { el, svgReady: false, active: [] };
      cards.set(a.sessionId, card);
      if (a.chart) chart(a.chart).then((svg) => { el.querySelector('.chart').innerHTML = svg; card.svgReady = true; highlight(card, cards.get(a.sessionId) && card.current); });
    }
    card.current = a;
    card.el.classList.toggle('ended', Boolean(a.endedAt));
    card.el.dataset.stateValue = fmtValue(a.value);
    card.el.querySelector('h3').innerHTML = esc(label(a)) + badges(a);
    const sup = supervisionFor(a);
    card.el.querySelector('.meta').innerHTML = (a.chart ? 'machine <b>' + esc(a.chart) + '</b> · ' : '') + 'state <span class="value">' + esc(fmtValue(a.value) || a.status) + '</span>' + (sup ? ' · supervisor: ' + esc(sup.phase) + ', restarts ' + sup.restarts : '');
    const trail = trails.get(a.sessionId) || [];
    const trailEl = card.el.querySelector('.trail');
    trailEl.dataset.trail = JSON.stringify(trail);
    trailEl.textContent = trail.length > 1 ? 'recent: ' + trail.map((t) => t.state).join(' → ') : '';
    const details = card.el.querySelector('details');
    const summary = a.parent === undefined && view.report ? view.report : a.summary !== undefined ? a.summary : a.supervision;
    details.hidden = summary === undefined;
    if (summary !== undefined) details.querySelector('pre').textContent = JSON.stringify(summary, null, 2);
    highlight(card, a);
  }
}

function highlight(card, a) {
  if (!card.svgReady || !a) return;
  const svg = card.el.querySelector('svg');
  if (!svg) return;
  for (const el of svg.querySelectorAll('.state.active')) el.classList.remove('active');
  // The root state is always active, so only the states below it count as highlighted.
  for (const id of a.active) { const el = svg.querySelector('[data-state="' + CSS.escape(id) + '"]'); if (el) el.classList.add('active'); }
  card.el.dataset.active = a.active.join(' ');
  card.el.dataset.highlighted = String(svg.querySelectorAll('.state.active:not(.root)').length);
}

function renderLog() {
  const select = $('#filter');
  const ids = [...new Set([...view.actors, ...view.ended].map((a) => a.id).concat(log.map((e) => e.actorId)))].sort();
  const current = select.value;
  const options = '<option value="">all actors</option>' + ids.map((id) => '<option' + (id === current ? ' selected' : '') + ' value="' + esc(id) + '">' + esc(id) + '</option>').join('');
  if (select.dataset.options !== options) { select.innerHTML = options; select.dataset.options = options; select.value = current; }
  const rows = [];
  for (let i = log.length - 1; i >= 0 && rows.length < 300; i -= 1) {
    const e = log[i];
    if (current && e.actorId !== current) continue;
    const t = new Date(e.at).toISOString().slice(11, 23);
    rows.push('<tr class="' + esc(e.kind) + '" data-actor-id="' + esc(e.actorId) + '"><td class="k">' + t + '</td><td class="k">' + esc(e.actorId) + '</td><td class="k">' + esc(e.kind) + '</td><td class="t">' + esc(e.type) + '</td><td title="' + (e.payload === undefined ? '' : esc(JSON.stringify(e.payload, null, 1))) + '"><pre>' + (e.payload === undefined ? '' : esc(JSON.stringify(e.payload))) + '</pre></td></tr>');
  }
  $('#events').innerHTML = rows.join('');
}

function apply(msg) {
  view = msg;
  for (const e of msg.events) {
    if (e.kind !== 'state') continue;
    const t = trails.get(e.actor) || [];
    t.push({ at: e.at, state: e.type });
    if (t.length > TRAIL) t.shift();
    trails.set(e.actor, t);
  }
  const known = new Set([...msg.actors, ...msg.ended].map((a) => a.sessionId));
  for (const sid of trails.keys()) if (!known.has(sid)) trails.delete(sid);
  if (msg.events.length) { log = log.concat(msg.events); if (log.length > MAX_LOG) log = log.slice(log.length - MAX_LOG); }
  document.title = msg.title + ' · inspector';
  $('#who').textContent = msg.title;
  const health = $('#health');
  health.hidden = !msg.report;
  if (msg.report) { health.textContent = msg.report.health; health.className = 'badge ' + (msg.report.health === 'healthy' ? 'healthy' : 'error'); health.dataset.health = msg.report.health; }
  $('#stats').textContent = view.actors.length + ' actors · ' + msg.stats.lastSeq + ' events · ' + msg.stats.drops + ' updates dropped';
  renderTree(); renderCards(); renderLog();
}

$('#tree').addEventListener('click', (ev) => {
  const r = ev.target.closest('.actor-row[data-session]');
  if (!r) return;
  const sid = r.dataset.session;
  if (pinned.has(sid)) pinned.delete(sid); else pinned.add(sid);
  renderTree(); renderCards();
  const card = cards.get(sid);
  if (card) card.el.scrollIntoView({ block: 'nearest' });
});
$('#filter').addEventListener('change', renderLog);

// The token is now in an HttpOnly cookie: drop it from the address bar (and from history).
if (location.search.includes('token=')) history.replaceState(null, '', location.pathname);
const source = new EventSource('/events');
// A (re)connected stream starts with the whole buffer again, so start the log afresh.
source.onopen = () => { $('#live').classList.add('on'); log = []; trails.clear(); };
source.onerror = () => $('#live').classList.remove('on');
source.onmessage = (ev) => apply(JSON.parse(ev.data));
`;

/**
 * The page's HTML for an agent called `title`.
 *
 * @example
 * res.end(inspectorPageHtml('pc-001'));
 */
export function inspectorPageHtml(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeXml(title)} · inspector</title>
<style>${CSS}</style></head>
<body>
<header><h1><span id="live" title="live updates"></span>kanade-agent inspector</h1><span id="who">${escapeXml(title)}</span><span id="health" class="badge"></span><span class="stats" id="stats">connecting…</span></header>
<main><aside><h2>Actors</h2><div id="tree"></div></aside><div id="cards"></div></main>
<section id="log"><div class="bar"><h2>Events</h2><select id="filter"><option value="">all actors</option></select></div><table><colgroup><col class="c-time"><col class="c-actor"><col class="c-kind"><col class="c-type"><col></colgroup><tbody id="events"></tbody></table></section>
<script>${SCRIPT}</script>
</body></html>`;
}
