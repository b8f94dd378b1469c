// The console's shell: sign-in, navigation, the interlock badge on every
// page, and the hash router (#/runs/ID, #/workflows/NAME, ...).

import { api, can, restore, session, signIn, signOut, whenSignedOut } from './api.js';
import { h, clear, put, alertBox } from './dom.js';
import * as overview from './overview.js';
import * as runs from './runs.js';
import * as run from './run.js';
import * as workflows from './workflows.js';
import * as editor from './editor.js';
import * as plugins from './plugins.js';
import * as audit from './audit.js';
import * as tokens from './tokens.js';

const main = document.getElementById('main');
const bar = document.getElementById('bar');
const nav = document.getElementById('nav');
const badge = document.getElementById('interlock-badge');

const SECTIONS = [
  ['#/', 'Overview', 'viewer'],
  ['#/runs', 'Runs', 'viewer'],
  ['#/workflows', 'Workflows', 'viewer'],
  ['#/editor', 'Editor', 'viewer'],
  ['#/plugins', 'Plugins', 'viewer'],
  ['#/audit', 'Audit', 'viewer'],
  ['#/tokens', 'Tokens', 'admin'],
];

const ROUTES = [
  [/^\/?$/, overview],
  [/^\/runs$/, runs],
  [/^\/runs\/(?<id>[^/]+)$/, run],
  [/^\/workflows$/, workflows],
  [/^\/workflows\/(?<name>[^/]+)$/, workflows],
  [/^\/editor$/, editor],
  [/^\/editor\/(?<name>[^/]+)$/, editor],
  [/^\/plugins$/, plugins],
  [/^\/audit$/, audit],
  [/^\/tokens$/, tokens],
];

let cleanup = null;
let badgeTimer = 0;

function signInPage(message) {
  generation += 1;
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  // Several calls can find the session gone at once: show the form once.
  if (document.getElementById('signin') && !session.role) return;
  Object.assign(session, { name: null, role: null, csrf: null });
  bar.hidden = true;
  clearTimeout(badgeTimer);
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, placeholder: 'baton_…' });
  const error = h('div', {});
  const form = h('form', { class: 'panel signin', id: 'signin' },
    h('h1', {}, 'Sign in to Baton'),
    h('p', { class: 'muted' }, 'Paste an API token. `baton demo` prints one; an admin can make more under Tokens.'),
    h('label', { for: 'token' }, 'API token', token), error,
    h('p', {}, h('button', { type: 'submit' }, 'Sign in')));
  if (message) error.append(h('div', { class: 'alert', role: 'alert' }, message));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await signIn(token.value.trim());
      start();
    } catch (err) {
      put(error, alertBox(err));
      token.select();
    }
  });
  put(main, form);
  token.focus();
}

async function paintBadge() {
  clearTimeout(badgeTimer);
  try {
    const il = await api('GET', '/interlock');
    badge.className = `badge ${il.engaged ? 'engaged' : 'released'}`;
    badge.textContent = il.engaged ? 'INTERLOCK ENGAGED' : 'interlock released';
    badge.title = il.engaged ? 'Every actuation is denied and no run may start' : 'Actuation is allowed';
  } catch { /* the page shows its own errors */ }
  if (session.role) badgeTimer = setTimeout(paintBadge, 3000);
}

function paintNav(path) {
  clear(nav);
  for (const [href, label, role] of SECTIONS) {
    if (!can(role)) continue;
    const here = href === '#/' ? path === '/' || path === '' : `#${path}`.startsWith(href);
    nav.append(h('a', { href, 'aria-current': here ? 'page' : false }, label));
  }
}

let generation = 0;

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  const mine = ++generation;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  const query = new URLSearchParams(qs || '');
  paintNav(path);
  for (const [pattern, view] of ROUTES) {
    const m = path.match(pattern);
    if (!m) continue;
    const params = Object.fromEntries(Object.entries(m.groups || {}).map(([k, v]) => [k, decodeURIComponent(v)]));
    // Each view renders into its own element, so a slow view that finishes
    // after the next navigation can be dropped whole.
    const root = h('div', { class: 'view' });
    put(main, root);
    let done = null;
    try {
      done = (await view.render(root, params, query)) || null;
    } catch (e) {
      if (e.status === 401) return;
      root.append(alertBox(e));
    }
    if (mine !== generation) {
      if (done) { try { done(); } catch { /* ignore */ } }
      root.remove();
      return;
    }
    cleanup = done;
    main.focus({ preventScroll: true });
    return;
  }
  put(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the overview')));
}

function start() {
  bar.hidden = false;
  document.getElementById('who').textContent = `${session.name} (${session.role})`;
  paintBadge();
  route();
}

whenSignedOut(() => signInPage('The session ended: the token was revoked, or you signed out elsewhere. Sign in again.'));
document.getElementById('signout').addEventListener('click', async () => {
  await signOut();
  signInPage('Signed out.');
});
window.addEventListener('hashchange', () => { if (session.role) route(); });

(async () => {
  try {
    if (await restore()) start(); else signInPage();
  } catch (e) {
    put(main, alertBox(e));
  }
})();
