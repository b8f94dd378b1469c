// The runs list: filtered by workflow, status, batch or serial key and
// time, newest first, a page at a time.

import { api, enc } from './api.js';
import { h, put, state, fmtTime, fmtDuration } from './dom.js';

const STATUSES = ['', 'running', 'held', 'succeeded', 'failed', 'cancelled'];

function toMs(local) { return local ? new Date(local).getTime() : null; }

export async function render(root, params, query) {
  const workflows = await api('GET', '/workflows');
  const wf = h('select', { id: 'filter-workflow', name: 'workflow' }, h('option', { value: '' }, 'any workflow'),
    workflows.workflows.map((w) => h('option', { value: w.name, selected: query.get('workflow') === w.name }, w.name)));
  const st = h('select', { id: 'filter-status', name: 'status' }, STATUSES.map((s) => h('option', { value: s, selected: (query.get('status') || '') === s }, s || 'any status')));
  const key = h('input', { type: 'search', id: 'filter-key', name: 'key', placeholder: 'e.g. B-42', value: query.get('key') || '' });
  const since = h('input', { type: 'datetime-local', id: 'filter-since', value: query.get('since') || '' });
  const until = h('input', { type: 'datetime-local', id: 'filter-until', value: query.get('until') || '' });
  const body = h('tbody', {});
  const more = h('button', { class: 'quiet', id: 'older', hidden: true }, 'Older runs');
  const error = h('div', {});
  let cursor = null;

  const form = h('form', { class: 'row panel', role: 'search' },
    h('label', {}, 'Workflow', wf), h('label', {}, 'Status', st), h('label', {}, 'Key', key), h('label', {}, 'From', since), h('label', {}, 'Until', until),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (wf.value) q.set('workflow', wf.value);
    if (st.value) q.set('status', st.value);
    if (key.value.trim()) q.set('key', key.value.trim());
    if (since.value) q.set('since', since.value);
    if (until.value) q.set('until', until.value);
    location.hash = `#/runs${q.toString() ? `?${q}` : ''}`;
  });

  async function page() {
    const q = new URLSearchParams({ limit: '50' });
    if (query.get('workflow')) q.set('workflow', query.get('workflow'));
    if (query.get('status')) q.set('status', query.get('status'));
    if (query.get('key')) q.set('key', query.get('key'));
    if (query.get('since')) q.set('since', String(toMs(query.get('since'))));
    if (query.get('until')) q.set('until', String(toMs(query.get('until'))));
    if (cursor) q.set('cursor', cursor);
    try {
      const data = await api('GET', `/runs?${q}`);
      for (const r of data.runs) {
        body.append(h('tr', { 'data-run': r.id },
          h('td', {}, h('a', { href: `#/runs/${enc(r.id)}` }, h('code', {}, r.id))),
          h('td', {}, h('a', { href: `#/workflows/${enc(r.workflow)}` }, r.workflow), ` v${r.version}`),
          h('td', {}, state(r.status)),
          h('td', { class: 'run-key' }, r.key ? h('a', { href: `#/runs?key=${enc(r.key)}`, title: 'Every run with this key' }, r.key) : ''),
          h('td', {}, r.trigger || ''),
          h('td', {}, fmtTime(r.created_at)),
          h('td', { class: 'num' }, r.finished_at ? fmtDuration(r.finished_at - r.created_at) : '–'),
          h('td', {}, r.error || '')));
      }
      if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No runs match.')));
      cursor = data.next;
      more.hidden = !cursor;
    } catch (e) { put(error, h('div', { class: 'alert', role: 'alert' }, e.message)); }
  }
  more.addEventListener('click', page);
  root.append(h('h1', {}, 'Runs'), form, error,
    h('section', { class: 'panel' }, h('table', { id: 'runs' },
      h('thead', {}, h('tr', {}, ['Run', 'Workflow', 'State', 'Key', 'Trigger', 'Started', 'Took', 'Error'].map((t) => h('th', {}, t)))), body), h('div', { class: 'pager' }, more)));
  await page();
}
