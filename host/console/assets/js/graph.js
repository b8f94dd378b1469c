// A workflow's DAG, laid out left to right by dagre and drawn as SVG.
// Node boxes carry their state as a word and a data attribute, so colour is
// never the only signal; each box is a button reachable from the keyboard.

import { s, clear } from './dom.js';

const W = 176;
const H = 58;

/** The nodes of a stored definition (`nodes` is a map of id to node). */
export function nodesOf(definition) {
  const nodes = definition && definition.nodes;
  if (!nodes) return [];
  const list = Array.isArray(nodes) ? nodes : Object.entries(nodes).map(([id, n]) => ({ id, ...n }));
  return list.map((n) => ({
    id: n.id,
    type: n.type || 'task',
    plugin: n.plugin || null,
    needs: [].concat(n.needs || []),
    when: n.when || null,
    foreach: Boolean(n.foreach),
    config: n.config,
    workflow: n.workflow || null,
    version: n.version || null,
  }));
}

function layout(nodes) {
  const g = new window.dagre.graphlib.Graph();
  // network-simplex ranks best but costs about 2 ms a node; past 60 nodes
  // tight-tree is four times faster and nearly as tidy.
  const ranker = nodes.length > 60 ? 'tight-tree' : 'network-simplex';
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 46, marginx: 12, marginy: 12, ranker });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(nodes.map((n) => n.id));
  for (const n of nodes) g.setNode(n.id, { width: W, height: H });
  for (const n of nodes) for (const d of n.needs) if (ids.has(d)) g.setEdge(d, n.id);
  window.dagre.layout(g);
  return g;
}

function edgePath(points) {
  const [first, ...rest] = points;
  return `M${first.x},${first.y}` + rest.map((p) => `L${p.x},${p.y}`).join('');
}

/**
 * Draw `nodes` into `container`. `onSelect(id)` is called when a node is
 * clicked or chosen with Enter or Space; with `plain`, nodes show no
 * state (a definition, not a run). Returns `{update, select, mark}`.
 */
export function drawGraph(container, nodes, { onSelect, plain = false } = {}) {
  clear(container);
  if (!nodes.length) {
    container.append(document.createTextNode('No nodes.'));
    return { update() {}, select() {}, mark() {} };
  }
  const g = layout(nodes);
  const { width, height } = g.graph();
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': 'Workflow graph', id: 'dag' });
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a96a3' }))));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const e of g.edges()) {
    const target = byId.get(e.w);
    svg.append(s('path', { class: target && target.when ? 'edge cond' : 'edge', d: edgePath(g.edge(e).points), 'marker-end': 'url(#arrow)' }));
  }
  const boxes = new Map();
  for (const n of nodes) {
    const p = g.node(n.id);
    const x = p.x - W / 2;
    const y = p.y - H / 2;
    const sub = n.plugin ? n.plugin : n.type;
    const stateText = s('text', { class: 'st', x: x + 14, y: y + 50 }, 'pending');
    const label = s('title', {}, '');
    const box = s('g', { class: 'node', 'data-node': n.id, 'data-state': 'pending', tabindex: 0, role: 'button' },
      label,
      s('rect', { x, y, width: W, height: H, rx: 6 }),
      s('rect', { class: 'bar', x: x + 1, y: y + 1, width: 6, height: H - 2 }),
      s('text', { class: 'id', x: x + 14, y: y + 17 }, n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id),
      s('text', { class: 'sub', x: x + 14, y: y + 33 }, (n.foreach ? '⋔ ' : '') + (sub.length > 24 ? `${sub.slice(0, 23)}…` : sub)),
      stateText);
    const choose = () => onSelect && onSelect(n.id);
    box.addEventListener('click', choose);
    box.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); choose(); }
    });
    boxes.set(n.id, { box, stateText, label });
    svg.append(box);
  }
  container.append(svg);
  // Shrink a graph a little to fit its panel; a much wider one scrolls, so
  // that its labels stay readable.
  if (width <= container.clientWidth * 1.6) svg.classList.add('fit');
  const api = {
    /**
     * Set each node's shown state: `states` maps id to `{state, detail,
     * incident}`; a node with an open incident is marked apart from a
     * plain failure.
     */
    update(states) {
      for (const [id, v] of Object.entries(states)) {
        const b = boxes.get(id);
        if (!b) continue;
        const text = v.detail ? `${v.state} · ${v.detail}` : v.state;
        if (b.box.getAttribute('data-state') !== v.state) b.box.setAttribute('data-state', v.state);
        if (b.stateText.textContent !== text) b.stateText.textContent = text;
        const incident = Boolean(v.incident);
        if (b.box.classList.contains('incident') !== incident) {
          b.box.classList.toggle('incident', incident);
          if (incident) b.box.setAttribute('data-incident', 'true'); else b.box.removeAttribute('data-incident');
        }
        const aria = `${id}: ${text}`;
        if (b.label.textContent !== aria) { b.label.textContent = aria; b.box.setAttribute('aria-label', aria); }
      }
    },
    select(id) {
      for (const [k, b] of boxes) b.box.classList.toggle('selected', k === id);
    },
    /** Mark the nodes that have problems (and unmark the others). */
    mark(ids) {
      for (const [k, b] of boxes) b.box.classList.toggle('problem', ids.has(k));
    },
  };
  // A definition's graph (no run) shows no states.
  if (plain) for (const b of boxes.values()) { b.stateText.textContent = ''; b.box.setAttribute('data-state', 'none'); }
  else api.update(Object.fromEntries(nodes.map((n) => [n.id, { state: 'pending' }])));
  return api;
}

/** The legend of node states, and of a node holding its run on an incident. */
export function legend(stateEl, withIncident = false) {
  const names = ['pending', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled', 'compensating', 'compensated'];
  const el = document.createElement('div');
  el.className = 'legend';
  el.setAttribute('aria-label', 'Node states');
  for (const n of names) el.append(stateEl(n));
  if (withIncident) el.append(stateEl('incident'));
  return el;
}
