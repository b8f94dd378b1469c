// The audit log: every change made through the API, newest first, filtered
// by actor and action.

import { api } from './api.js';
import { h, clear, fmtTime, pretty } from './dom.js';

export async function render(root, params, query) {
  const actor = h('input', { id: 'audit-actor', value: query.get('actor') || '', placeholder: 'token name' });
  const action = h('input', { id: 'audit-action', value: query.get('action') || '', placeholder: 'e.g. run. or interlock.' });
  const body = h('tbody', {});
  const more = h('button', { class: 'quiet', hidden: true, id: 'audit-older' }, 'Older entries');
  let before = null;
  const form = h('form', { class: 'row panel', role: 'search' }, h('label', {}, 'Actor', actor), h('label', {}, 'Action starts with', action), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (action.value.trim()) q.set('action', action.value.trim());
    location.hash = `#/audit${q.toString() ? `?${q}` : ''}`;
  });
  async function page() {
    const q = new URLSearchParams({ limit: '100' });
    if (query.get('actor')) q.set('actor', query.get('actor'));
    if (query.get('action')) q.set('action', query.get('action'));
    if (before) q.set('before', before);
    const data = await api('GET', `/audit?${q}`);
    for (const e of data.entries) {
      const d = e.data || {};
      body.append(h('tr', { 'data-seq': e.seq },
        h('td', {}, fmtTime(e.at)), h('td', {}, e.actor || ''), h('td', {}, d.role || ''), h('td', {}, h('code', {}, e.kind)),
        h('td', {}, d.details && Object.keys(d.details).length ? h('pre', {}, pretty(d.details)) : '')));
    }
    if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No entries match.')));
    before = data.entries.length === 100 ? data.next_before : null;
    more.hidden = !before;
  }
  more.addEventListener('click', page);
  root.append(h('h1', {}, 'Audit log'), form, h('section', { class: 'panel' },
    h('table', { id: 'audit' }, h('thead', {}, h('tr', {}, ['When', 'Actor', 'Role', 'Action', 'Details'].map((t) => h('th', {}, t)))), body),
    h('div', { class: 'pager' }, more)));
  clear(body);
  await page();
}
