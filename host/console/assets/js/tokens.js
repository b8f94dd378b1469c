// API tokens, for admins: create one (its secret is shown once) and revoke.

import { api, enc } from './api.js';
import { h, put, fmtTime, toast, ask, describe } from './dom.js';

export async function render(root) {
  const list = h('tbody', {});
  const shown = h('div', { id: 'new-token', 'aria-live': 'polite' });
  async function load() {
    const data = await api('GET', '/tokens');
    put(list, ...data.tokens.map((t) => h('tr', { 'data-token': t.id },
      h('td', {}, h('code', {}, t.id)), h('td', {}, t.name), h('td', {}, t.role), h('td', {}, fmtTime(t.created_at)),
      h('td', {}, h('button', { class: 'danger', onclick: () => revoke(t) }, 'Revoke')))));
  }
  async function revoke(t) {
    const ok = await ask({ title: `Revoke ${t.name}?`, message: 'Its next call is refused, and every console session signed in with it ends.', confirm: 'Revoke', danger: true });
    if (ok === null) return;
    try { await api('DELETE', `/tokens/${enc(t.id)}`); toast(`Revoked ${t.name}`); await load(); } catch (e) { toast(describe(e), 'error'); }
  }
  const name = h('input', { id: 'token-name', required: true, placeholder: 'e.g. line1-tablet' });
  const role = h('select', { id: 'token-role' }, ['viewer', 'operator', 'admin'].map((r) => h('option', { value: r }, r)));
  const form = h('form', { class: 'panel row', id: 'create-token' }, h('label', {}, 'Name', name), h('label', {}, 'Role', role), h('button', { type: 'submit' }, 'Create token'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const t = await api('POST', '/tokens', { name: name.value.trim(), role: role.value });
      put(shown, h('div', { class: 'note' }, h('strong', {}, `Token for ${t.name} (${t.role}). It is shown only now: copy it.`),
        h('pre', { id: 'token-secret' }, t.token)));
      name.value = '';
      await load();
    } catch (err) { put(shown, h('div', { class: 'alert', role: 'alert' }, describe(err))); }
  });
  root.append(h('h1', {}, 'Tokens'), form, shown, h('section', { class: 'panel' }, h('table', { id: 'tokens' },
    h('thead', {}, h('tr', {}, ['Id', 'Name', 'Role', 'Created', ''].map((t) => h('th', {}, t)))), list)));
  await load();
}
