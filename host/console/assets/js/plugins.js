// Plugins: every version with its description, config schema and the
// capabilities it imports; admins upload from the page, with progress and
// the checker's verdict.

import { api, can, upload } from './api.js';
import { h, clear, put, fmtTime, pretty, describe } from './dom.js';

export async function render(root) {
  const list = h('div', { id: 'plugin-list' });
  async function load() {
    const data = await api('GET', '/plugins');
    const byName = new Map();
    for (const p of data.plugins) {
      if (!byName.has(p.name)) byName.set(p.name, []);
      byName.get(p.name).push(p);
    }
    clear(list);
    if (!byName.size) list.append(h('p', { class: 'muted' }, 'No plugins yet.'));
    for (const [name, versions] of byName) {
      list.append(h('section', { class: 'panel plugin', 'data-plugin': name },
        h('h2', {}, name),
        h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Version'), h('th', {}, 'Description'), h('th', {}, 'Imports'), h('th', { class: 'num' }, 'Size'), h('th', {}, 'Uploaded'))),
          h('tbody', {}, versions.map((p) => h('tr', {},
            h('td', {}, p.version, h('div', { class: 'muted' }, h('code', { title: p.digest }, String(p.digest).slice(0, 19)))),
            h('td', {}, p.description || '',
              h('details', {}, h('summary', {}, 'config schema'), h('pre', {}, pretty(p.config_schema)))),
            h('td', {}, h('ul', {}, (p.imports || []).map((i) => h('li', {}, h('code', {}, typeof i === 'string' ? i : JSON.stringify(i)))))),
            h('td', { class: 'num' }, `${Math.round((p.size || 0) / 1024)} KiB`),
            h('td', {}, fmtTime(p.created_at))))))));
    }
  }

  let form = null;
  if (can('admin')) {
    const file = h('input', { type: 'file', id: 'plugin-file', accept: '.wasm,application/wasm', required: true });
    const bar = h('progress', { class: 'progress', id: 'upload-progress', max: 1, value: 0, hidden: true });
    const verdict = h('div', { id: 'upload-verdict', 'aria-live': 'polite' });
    form = h('form', { class: 'panel', id: 'upload' }, h('h2', {}, 'Upload a plugin'),
      h('p', { class: 'muted' }, 'A WebAssembly component (.wasm). It is checked before it is stored: its WIT world, its imports, its size and its pool limits.'),
      h('div', { class: 'row' }, h('label', { for: 'plugin-file' }, 'Component', file), h('button', { type: 'submit' }, 'Upload')), bar, verdict);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = file.files[0];
      if (!f) return;
      bar.hidden = false;
      bar.value = 0;
      put(verdict, h('p', { class: 'muted' }, `Uploading ${f.name}…`));
      try {
        const r = await upload('/plugins', f, 'application/wasm', (x) => { bar.value = x; });
        bar.value = 1;
        put(verdict, h('div', { class: 'note' }, r.status === 201 ? `✓ Stored ${r.data.name} ${r.data.version}` : `✓ Already stored: ${r.data.name} ${r.data.version}`,
          h('div', { class: 'muted' }, h('code', {}, String(r.data.digest)))));
        await load();
      } catch (err) {
        put(verdict, h('div', { class: 'alert', role: 'alert' }, `✗ Refused: ${describe(err)}`));
      }
    });
  }
  root.append(h('h1', {}, 'Plugins'), form, list);
  await load();
}
