// Small DOM helpers: build elements, format times, show toasts and dialogs.

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h('button', {class: 'ok', onclick}, 'Approve'). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Replace `el`'s children with `children` (nested lists flattened; null, undefined and false left out). */
export function put(el, ...children) {
  clear(el);
  return build(el, {}, children);
}

export function fmtTime(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  return `${Math.floor(ms / 3600000)} h ${Math.round((ms % 3600000) / 60000)} min`;
}

export function ago(ms) {
  return ms ? `${fmtDuration(Date.now() - ms)} ago` : '–';
}

export function pretty(v) {
  return v === undefined ? '' : JSON.stringify(v, null, 2);
}

/** A state pill: colour, symbol and word. */
export function state(name) {
  return h('span', { class: `state ${name}`, 'data-state': name }, name);
}

export function toast(message, kind = 'info') {
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * A modal dialog asking to confirm, optionally with a comment.
 * Resolves to the comment ('' when none was asked for), or null if cancelled.
 */
export function ask({ title, message, comment = false, required = false, confirm = 'Confirm', danger = false }) {
  const fields = comment ? [{ name: 'comment', label: comment === true ? 'Comment' : comment, required }] : [];
  return dialog({ title, message, fields, confirm, danger, submit: (v) => (comment ? v.comment : '') });
}

function fieldError(f, v) {
  if (f.required && !v.trim()) return f.json ? `${f.label}: a JSON value is required.` : 'A comment is required.';
  if (!f.json || !v.trim()) return null;
  try { JSON.parse(v); } catch (e) { return `${f.label}: not JSON: ${e.message}`; }
  return null;
}

/**
 * A modal dialog with fields, each a comment or (with `json`) a JSON value
 * checked as it is typed: `fields` is a list of `{name, label, value, json,
 * required, rows, hint}`. `submit(values)` gets each field's trimmed text,
 * or its parsed value (undefined when left empty); it is awaited with the
 * dialog open, and what it throws is shown there, the problems' fields
 * marked, for a correction. Resolves to what `submit` returns, or null if
 * cancelled.
 */
export function dialog({ title, message, fields = [], confirm = 'Confirm', danger = false, submit = (v) => v }) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => {
      const el = h('textarea', {
        id: `dialog-${f.name}`, name: f.name, rows: f.rows || 3, spellcheck: f.json ? 'false' : false,
        'aria-label': f.label, 'aria-required': f.required ? 'true' : false,
        'aria-describedby': f.hint ? `dialog-${f.name}-hint` : false, class: f.json ? 'json' : false,
      });
      el.value = f.value || '';
      return el;
    });
    const error = h('div', { class: 'alert', id: 'dialog-error', role: 'alert', hidden: true });
    const ok = h('button', { type: 'submit', id: 'dialog-confirm', class: danger ? 'danger' : '' }, confirm);
    const cancel = h('button', { type: 'button', class: 'quiet', id: 'dialog-cancel' }, 'Cancel');
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title), message ? h('p', {}, message) : null,
      fields.map((f, i) => h('label', { for: `dialog-${f.name}` }, f.label, inputs[i],
        f.hint ? h('span', { class: 'hint', id: `dialog-${f.name}-hint` }, f.hint) : null)),
      error, h('div', { class: 'row' }, ok, cancel));
    const box = h('dialog', { 'aria-label': title, class: fields.some((f) => f.json) ? 'wide' : false }, form);
    document.body.append(box);
    const show = (text, bad = []) => {
      error.hidden = !text;
      if (text) put(error, text);
      inputs.forEach((el, i) => el.setAttribute('aria-invalid', String(bad.includes(fields[i].name))));
    };
    // JSON is checked as it is typed, and nothing is sent while it does not parse.
    const check = () => {
      const bad = fields.map((f, i) => [f, f.json && inputs[i].value.trim() ? fieldError(f, inputs[i].value) : null]).filter(([, e]) => e);
      show(bad.length ? bad.map(([, e]) => e).join(' ') : '', bad.map(([f]) => f.name));
      ok.disabled = bad.length > 0;
    };
    // Typing also clears a message about a field left empty.
    inputs.forEach((el) => el.addEventListener('input', check));
    const done = (v) => { box.close(); box.remove(); resolve(v); };
    cancel.addEventListener('click', () => done(null));
    box.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const bad = fields.map((f, i) => [i, fieldError(f, inputs[i].value)]).find(([, m]) => m);
      if (bad) {
        show(bad[1], [fields[bad[0]].name]);
        inputs[bad[0]].focus();
        return;
      }
      const values = Object.fromEntries(fields.map((f, i) => {
        const v = inputs[i].value.trim();
        return [f.name, f.json ? (v ? JSON.parse(v) : undefined) : v];
      }));
      ok.disabled = true;
      try {
        done(await submit(values));
      } catch (err) {
        ok.disabled = false;
        // A problem names its field as `config.kind`: mark the field it is in.
        const named = (err && err.problems ? err.problems : []).map((p) => String(p.field || '').split(/[.[]/)[0]);
        show(describe(err), fields.map((f) => f.name).filter((n) => named.includes(n)));
        const first = inputs.find((el) => el.getAttribute('aria-invalid') === 'true');
        (first || ok).focus();
      }
    });
    box.showModal();
    (inputs[0] || ok).focus();
  });
}

/** An error as a visible alert. */
export function alertBox(e) {
  return h('div', { class: 'alert', role: 'alert' }, describe(e));
}

export function describe(e) {
  if (e && e.problems && e.problems.length) {
    return `${e.message}: ${e.problems.map((p) => (p.node ? `node ${p.node}, ` : '') + `${p.field}: ${p.message}`).join('; ')}`;
  }
  return e && e.message ? e.message : String(e);
}

/**
 * The `dt`/`dd` pairs of a version's plugins (`name@major` to `{version,
 * digest}`), each digest cut to `digits` (in full on hover).
 */
export function pluginPairs(plugins, digits = Infinity) {
  return Object.entries(plugins || {}).flatMap(([name, v]) => [
    h('dt', {}, name),
    h('dd', {}, `${v.version || ''} `, h('code', { class: 'digest', title: v.digest || '' }, String(v.digest || v).slice(0, digits)))]);
}
