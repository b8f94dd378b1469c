// Equipment locks as the overview and the run page show them: who holds a
// lock and who waits for it, in the order they will get it
// (`GET /api/v1/locks`).

import { enc } from './api.js';
import { h, ago, fmtTime } from './dom.js';

/** The locks that someone holds or waits for (a lock nobody uses is left out). */
export function inUse(list) {
  return ((list && list.locks) || []).filter((l) => l.holders.length || l.queue.length);
}

/**
 * A holder or a waiter: its run (a link, to the node when a node asked),
 * workflow and node, and since when it holds (`held`) or has asked; `place`
 * is its place in the queue.
 */
export function who(w, { cls = 'lock-holder', held = true, place = 0 } = {}) {
  const href = `#/runs/${enc(w.run_id)}${w.node ? `?node=${enc(w.node)}` : ''}`;
  return h('div', { class: cls, 'data-run': w.run_id, 'data-node': w.node || false, 'data-place': place || false },
    place ? h('strong', { class: 'lock-place' }, `#${place} `) : null,
    h('a', { href }, w.workflow), w.node ? [' · node ', h('code', {}, w.node)] : ' · the whole run',
    h('span', { class: 'muted' }, ` · ${held ? 'took it' : 'asked'} `,
      h('span', { class: 'lock-since', 'data-since': w.since, title: fmtTime(w.since) }, ago(w.since))),
    h('div', { class: 'muted' }, h('code', {}, w.run_id)));
}

/**
 * What the lock request `wait` (`{node, keys}`, `node` null for the run's
 * own) of run `run` waits for: each lock, who holds it and its place in the
 * queue, from `list` (`GET /locks`) when there is one.
 */
export function waitsFor(run, wait, list) {
  const byKey = new Map(((list && list.locks) || []).map((l) => [l.key, l]));
  return h('ul', { class: 'lock-wait' }, wait.keys.map((key) => {
    const lock = byKey.get(key);
    const place = lock ? lock.queue.findIndex((q) => q.run_id === run && (q.node || null) === wait.node) : -1;
    return h('li', { 'data-lock': key },
      h('code', { class: 'lock-key' }, key),
      place >= 0 ? [': ', h('span', { class: 'lock-place' }, `#${place + 1} in the queue`)] : null,
      lock && lock.holders.length ? ['; held by', lock.holders.map((w) => who(w))] : null);
  }));
}
