// Workflows: the list; and one workflow with its versions, graph, YAML,
// triggers, a diff between any two versions, and a form to start a run.

import { api, can, enc } from './api.js';
import { h, clear, put, pluginPairs, fmtTime, toast, describe } from './dom.js';
import { drawGraph, nodesOf } from './graph.js';
import { diffLines } from './diff.js';

export async function render(root, params, query) {
  if (params.name) return one(root, params.name, query);
  const data = await api('GET', '/workflows');
  root.append(h('div', { class: 'spread' }, h('h1', {}, 'Workflows'),
    can('admin') ? h('a', { class: 'button', href: '#/editor' }, 'New workflow') : null),
  h('section', { class: 'panel' }, data.workflows.length ? h('table', { id: 'workflows' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', { class: 'num' }, 'Version'), h('th', {}, 'Description'), h('th', {}, 'Applied'))),
    h('tbody', {}, data.workflows.map((w) => h('tr', { 'data-workflow': w.name },
      h('td', {}, h('a', { href: `#/workflows/${enc(w.name)}` }, w.name)), h('td', { class: 'num' }, String(w.version)),
      h('td', {}, w.description || ''), h('td', {}, fmtTime(w.created_at))))))
    : h('p', { class: 'muted' }, 'No workflows yet. Apply one from the editor or with `baton workflow apply`.')));
  return null;
}

// A PLC trigger in words: "PLC: coil 5 on oven-1, rising edge, every 200ms".
function plcTrigger(p) {
  const area = ['coil', 'discrete', 'holding', 'input'].find((a) => p[a] !== undefined);
  const what = area === 'coil' || area === 'discrete'
    ? `${p.edge || 'rising'} edge`
    : `above ${p.above}, re-arms below ${p.below === undefined ? p.above : p.below}`;
  const timing = [`every ${p.interval || '200ms'}`, p.debounce ? `debounce ${p.debounce}` : null].filter(Boolean).join(', ');
  return `PLC: ${area} ${p[area]} on ${p.device}, ${what}, ${timing}`;
}

function triggersOf(def) {
  const t = (def && def.triggers) || [];
  if (!t.length) return h('p', { class: 'muted' }, 'Started only from the API and the console.');
  return h('ul', { id: 'triggers' }, t.map((x) => h('li', {},
    x.mqtt ? `MQTT: topic ${x.mqtt.topic} on connection ${x.mqtt.connection}`
      : x.cron ? `Schedule: ${x.cron}`
        : x.plc ? plcTrigger(x.plc) : JSON.stringify(x))));
}

async function one(root, name, query) {
  const latest = await api('GET', `/workflows/${enc(name)}`);
  const versions = latest.versions.map((v) => v.version).sort((a, b) => b - a);
  const cache = new Map([[latest.version, latest]]);
  const get = async (v) => {
    if (!cache.has(v)) cache.set(v, await api('GET', `/workflows/${enc(name)}/versions/${v}`));
    return cache.get(v);
  };
  const shown = Number(query.get('version')) || latest.version;
  const pick = h('select', { id: 'version', 'aria-label': 'Version' }, versions.map((v) => h('option', { value: v, selected: v === shown }, `v${v}`)));
  const graphBox = h('div', { class: 'graph', id: 'graph' });
  const yaml = h('pre', { id: 'yaml' });
  const triggers = h('div', {});
  const plugins = h('dl', { class: 'kv' });
  const from = h('select', { id: 'diff-from', 'aria-label': 'From version' }, versions.map((v) => h('option', { value: v, selected: v === (versions[1] || versions[0]) }, `v${v}`)));
  const to = h('select', { id: 'diff-to', 'aria-label': 'To version' }, versions.map((v) => h('option', { value: v, selected: v === versions[0] }, `v${v}`)));
  const diffBox = h('div', { class: 'diff', id: 'diff' });

  async function show(v) {
    const wf = await get(v);
    drawGraph(graphBox, nodesOf(wf.definition), { plain: true });
    yaml.textContent = wf.yaml;
    put(triggers, triggersOf(wf.definition));
    put(plugins, pluginPairs(wf.plugins, 16));
  }
  async function diff() {
    const [a, b] = await Promise.all([get(Number(from.value)), get(Number(to.value))]);
    const lines = diffLines(a.yaml, b.yaml);
    put(diffBox, ...lines.map(([k, t]) => h('div', { class: k }, t)));
    if (!lines.some(([k]) => k !== 'same')) diffBox.prepend(h('div', { class: 'same muted' }, 'These versions are the same.'));
  }
  pick.addEventListener('change', () => show(Number(pick.value)));
  from.addEventListener('change', diff);
  to.addEventListener('change', diff);

  // Start a run: the input is checked as JSON before anything is sent.
  const input = h('textarea', { id: 'start-input', rows: 5, 'aria-label': 'Run input (JSON)', spellcheck: 'false' }, '{}');
  const check = h('div', { id: 'start-check', 'aria-live': 'polite' });
  const startBtn = h('button', { id: 'start-run', type: 'submit' }, 'Start run');
  const validate = () => {
    try {
      const v = JSON.parse(input.value || '{}');
      clear(check);
      startBtn.disabled = false;
      return { ok: true, value: v };
    } catch (e) {
      put(check, h('div', { class: 'alert' }, `The input is not JSON: ${e.message}`));
      startBtn.disabled = true;
      return { ok: false };
    }
  };
  input.addEventListener('input', validate);
  const startForm = h('form', { id: 'start' }, h('h2', {}, 'Start a run'), h('label', { for: 'start-input' }, 'Input (JSON)', input), check, h('p', {}, startBtn));
  startForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = validate();
    if (!v.ok) return;
    try {
      const started = await api('POST', `/workflows/${enc(name)}/runs`, { input: v.value });
      toast(`Started ${started.run_id}`);
      location.hash = `#/runs/${enc(started.run_id)}`;
    } catch (err) {
      put(check, h('div', { class: 'alert', role: 'alert', id: 'start-error' }, describe(err)));
    }
  });

  root.append(
    h('div', { class: 'spread' }, h('h1', {}, name, ' ', pick),
      h('div', { class: 'row' }, h('a', { class: 'button', href: `#/runs?workflow=${enc(name)}` }, 'Runs'),
        h('a', { class: 'button', href: `#/editor/${enc(name)}` }, can('admin') ? 'Edit' : 'Open in editor'))),
    latest.definition.description ? h('p', { class: 'muted' }, latest.definition.description) : null,
    h('div', { class: 'split' },
      h('div', { class: 'column' },
        h('section', { class: 'panel' }, h('h2', {}, 'Graph'), graphBox),
        h('section', { class: 'panel' }, h('h2', {}, 'YAML'), yaml)),
      h('div', { class: 'column' },
        h('section', { class: 'panel' }, can('operator') ? startForm : h('p', { class: 'muted' }, 'Starting runs needs the operator role.'),
          h('h2', {}, 'Triggers'), triggers, h('h2', {}, 'Plugins'), plugins),
        h('section', { class: 'panel' }, h('div', { class: 'spread' }, h('h2', {}, 'Changes'), h('div', { class: 'row' }, from, '→', to)), diffBox))));
  await show(shown);
  if (versions.length > 1) await diff(); else diffBox.append(h('div', { class: 'same muted' }, 'Only one version so far.'));
  return null;
}

