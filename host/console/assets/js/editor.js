// The workflow editor: YAML on one side and its graph on the other, both
// updating as you type. Every keystroke (debounced) is validated by the
// server; each problem is listed, marked on its node and on its line. A
// palette of the installed plugins inserts a node with the config fields
// its schema requires. Admins can apply the result as a new version.

import { api, can, enc } from './api.js';
import { h, clear, put, debounce, toast, describe } from './dom.js';
import { drawGraph } from './graph.js';

const TEMPLATE = `name: new-workflow
description: What this workflow does.
nodes:
  first:
    plugin: transform@1
    config: {}
`;

/** The workflow's `name:` (the editor validates against it). */
function nameOf(text) {
  const m = text.match(/^name:\s*["']?([A-Za-z0-9_.-]+)["']?\s*(#.*)?$/m);
  return m ? m[1] : null;
}

/** The 1-based line where node `id` is defined under `nodes:`, if found. */
export function lineOfNode(text, id) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^nodes:\s*(#.*)?$/.test(l));
  if (start < 0) return null;
  const esc = id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^\\s+["']?${esc}["']?\\s*:`);
  for (let i = start + 1; i < lines.length; i += 1) {
    if (/^\S/.test(lines[i]) && !lines[i].startsWith('#')) break;
    if (re.test(lines[i])) return i + 1;
  }
  return null;
}

/** A YAML value for a schema's property: its default, or an empty one of its type. */
function placeholder(prop) {
  if (prop && prop.default !== undefined) return prop.default;
  if (prop && Array.isArray(prop.enum) && prop.enum.length) return prop.enum[0];
  switch (prop && prop.type) {
    case 'integer': case 'number': return 0;
    case 'boolean': return false;
    case 'array': return [];
    case 'object': return {};
    default: return '';
  }
}

export async function render(root, params) {
  const name = params.name || null;
  let text = TEMPLATE;
  if (name) {
    const wf = await api('GET', `/workflows/${enc(name)}`);
    text = wf.yaml;
  }
  const area = h('textarea', { id: 'yaml', spellcheck: 'false', autocomplete: 'off', 'aria-label': 'Workflow YAML', wrap: 'off' });
  area.value = text;
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const graphBox = h('div', { class: 'graph', id: 'graph' });
  const verdict = h('div', { id: 'verdict', 'aria-live': 'polite' });
  const problems = h('ul', { class: 'problems', id: 'problems' });
  const palette = h('div', { class: 'palette', id: 'palette' });
  const applyBtn = h('button', { id: 'apply', type: 'button', disabled: true }, 'Apply as a new version');
  const applied = h('div', { id: 'apply-result', 'aria-live': 'polite' });
  let graph = null;
  let graphKey = '';
  let badLines = new Set();
  let seq = 0;
  let valid = false;

  function paintGutter() {
    const n = area.value.split('\n').length;
    clear(gutter);
    for (let i = 1; i <= n; i += 1) {
      gutter.append(badLines.has(i) ? h('span', { class: 'bad', 'data-line': i, title: 'problem on this line' }, `!${i}`) : String(i), '\n');
    }
    gutter.scrollTop = area.scrollTop;
  }
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener('keydown', (e) => {
    // Tab indents by two spaces; Escape then Tab leaves the editor.
    if (e.key === 'Tab' && !e.shiftKey && !area.dataset.escaped) {
      e.preventDefault();
      area.setRangeText('  ', area.selectionStart, area.selectionEnd, 'end');
      area.dispatchEvent(new Event('input'));
    }
    area.dataset.escaped = e.key === 'Escape' ? '1' : '';
  });

  function goTo(line) {
    const lines = area.value.split('\n');
    const at = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(at, at + (lines[line - 1] || '').length);
    area.scrollTop = Math.max(0, (line - 5) * 18);
  }

  function paintGraph(g, bad) {
    const nodes = (g && g.nodes) || [];
    const key = JSON.stringify(nodes);
    if (key !== graphKey) {
      graphKey = key;
      graph = drawGraph(graphBox, nodes, { plain: true, onSelect(id) { const l = lineOfNode(area.value, id); if (l) goTo(l); } });
    }
    if (graph) graph.mark(bad);
  }

  async function check() {
    const mine = ++seq;
    const body = area.value;
    const wfName = nameOf(body);
    clear(problems);
    if (!wfName) {
      valid = false;
      applyBtn.disabled = true;
      put(verdict, h('div', { class: 'alert' }, 'The workflow needs a `name:` line (letters, digits, `.`, `_` and `-`).'));
      return;
    }
    let result;
    try {
      result = { ok: true, data: await api('POST', `/workflows/${enc(wfName)}/validate`, body) };
    } catch (e) {
      result = { ok: false, error: e };
    }
    if (mine !== seq) return; // a newer keystroke has its own check running
    const bad = new Set();
    badLines = new Set();
    if (result.ok) {
      valid = true;
      put(verdict, h('div', { class: 'note', id: 'valid' }, `✓ Valid. Plugins: ${Object.entries(result.data.plugins || {}).map(([k, v]) => `${k} → ${v.version || ''}`).join(', ') || 'none'}`));
      paintGraph(result.data.graph, bad);
    } else {
      valid = false;
      const e = result.error;
      if (e.status === 422 || e.status === 400) {
        const list = e.problems.length ? e.problems : [{ node: null, field: '', message: e.message }];
        put(verdict, h('div', { class: 'alert', id: 'invalid' }, `✗ ${e.message}`));
        for (const p of list) {
          const line = p.node ? lineOfNode(body, p.node) : (e.details && e.details.line) || null;
          if (p.node) bad.add(p.node);
          if (line) badLines.add(line);
          problems.append(h('li', { class: 'problem', 'data-node': p.node || '' },
            p.node ? h('strong', {}, `${p.node}: `) : null, p.field ? h('code', {}, p.field) : null, p.field ? ' ' : null, p.message,
            line ? h('button', { type: 'button', class: 'quiet', onclick: () => goTo(line) }, `line ${line}`) : null));
        }
        if (e.details && e.details.graph) paintGraph(e.details.graph, bad);
        else if (graph) graph.mark(bad);
      } else {
        put(verdict, h('div', { class: 'alert' }, describe(e)));
      }
    }
    applyBtn.disabled = !valid || !can('admin');
    paintGutter();
  }
  const later = debounce(check, 350);
  area.addEventListener('input', () => { paintGutter(); later(); });

  applyBtn.addEventListener('click', async () => {
    const wfName = nameOf(area.value);
    try {
      const rec = await api('PUT', `/workflows/${enc(wfName)}`, area.value);
      put(applied, h('div', { class: 'note', id: 'applied' }, `Applied: ${rec.name} v${rec.version}. `, h('a', { href: `#/workflows/${enc(rec.name)}` }, 'Open it')));
      toast(`${rec.name} v${rec.version} applied`);
    } catch (e) {
      put(applied, h('div', { class: 'alert', role: 'alert' }, describe(e)));
    }
  });

  // The palette: one button per plugin (its newest version of each major).
  api('GET', '/plugins').then((data) => {
    const newest = new Map();
    for (const p of data.plugins) {
      const major = `${p.name}@${String(p.version).split('.')[0]}`;
      newest.set(major, p);
    }
    put(palette, h('h2', {}, 'Add a node'), ...[...newest].map(([ref, p]) => h('button', {
      type: 'button', title: p.description || ref, 'data-plugin': ref,
      onclick: () => {
        const schema = p.config_schema || {};
        const props = schema.properties || {};
        const config = Object.fromEntries((schema.required || []).map((k) => [k, placeholder(props[k])]));
        let id = p.name.replace(/[^A-Za-z0-9_]/g, '_');
        for (let i = 2; lineOfNode(area.value, id); i += 1) id = `${p.name.replace(/[^A-Za-z0-9_]/g, '_')}_${i}`;
        const snippet = `  ${id}:\n    plugin: ${ref}\n    config: ${JSON.stringify(config)}\n`;
        area.value = `${area.value.replace(/\n*$/, '\n')}${snippet}`;
        area.dispatchEvent(new Event('input'));
        goTo(lineOfNode(area.value, id));
      },
    }, ref)));
  }).catch(() => put(palette, h('p', { class: 'muted' }, 'The plugin list could not be read.')));

  root.append(
    h('div', { class: 'spread' }, h('h1', {}, name ? `Edit ${name}` : 'New workflow'),
      h('div', { class: 'row' }, can('admin') ? applyBtn : h('span', { class: 'muted' }, 'Applying needs the admin role.'))),
    applied,
    h('div', { class: 'editor' },
      h('section', { class: 'panel' }, h('h2', {}, 'YAML'), h('div', { class: 'code' }, gutter, area),
        h('p', { class: 'muted' }, 'Tab indents; press Escape, then Tab, to leave the editor.')),
      h('section', { class: 'panel' }, h('h2', {}, 'Graph'), graphBox, verdict, problems, palette)));
  paintGutter();
  await check();
  return () => { seq += 1; };
}
