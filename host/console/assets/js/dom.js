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
  return new Promise((resolve) => {
    const text = comment ? h('textarea', { id: 'dialog-comment', rows: 3, 'aria-label': 'Comment', 'aria-required': required ? 'true' : false }) : null;
    const error = h('p', { class: 'alert', hidden: true });
    const ok = h('button', { type: 'submit', id: 'dialog-confirm', class: danger ? 'danger' : '' }, confirm);
    const cancel = h('button', { type: 'button', class: 'quiet', id: 'dialog-cancel' }, 'Cancel');
    const form = h('form', { method: 'dialog' },
      h('h2', {}, title), message ? h('p', {}, message) : null,
      text ? h('label', { for: 'dialog-comment' }, comment === true ? 'Comment' : comment, text) : null,
      error, h('div', { class: 'row' }, ok, cancel));
    const dialog = h('dialog', { 'aria-label': title }, form);
    document.body.append(dialog);
    const done = (v) => { dialog.close(); dialog.remove(); resolve(v); };
    cancel.addEventListener('click', () => done(null));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = text ? text.value.trim() : '';
      if (required && !v) {
        error.hidden = false;
        error.textContent = 'A comment is required.';
        text.focus();
        return;
      }
      done(v);
    });
    dialog.showModal();
    (text || ok).focus();
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
