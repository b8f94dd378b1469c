// A timeline of a run's attempts: one lane per node, one bar per attempt.

import { h, clear, fmtDuration, fmtTime } from './dom.js';

/** Past this many attempts, a lane shows one bar per phase with the counts. */
const MAX_BARS = 40;

export function drawGantt(container, model, now = Date.now()) {
  clear(container);
  const lanes = [];
  let start = model.startedAt || Infinity;
  let end = model.endedAt || now;
  for (const id of model.order) {
    const n = model.nodes.get(id);
    if (!n || !n.attempts.length) continue;
    lanes.push([id, n]);
    for (const a of n.attempts) {
      start = Math.min(start, a.startedAt);
      end = Math.max(end, a.endedAt || now);
    }
  }
  // Lanes in the order their nodes first started.
  const first = new Map(lanes.map(([id, n]) => [id, Math.min(...n.attempts.map((a) => a.startedAt))]));
  lanes.sort((a, b) => first.get(a[0]) - first.get(b[0]));
  if (!lanes.length) {
    container.append(h('p', { class: 'muted' }, 'No attempts yet.'));
    return;
  }
  const span = Math.max(end - start, 1);
  container.append(h('div', { class: 'spread muted' }, h('span', {}, fmtTime(start)), h('span', {}, `${fmtDuration(span)} in all`), h('span', {}, fmtTime(end))));
  const bar = (cls, from, to, what) => {
    const seg = h('div', { class: `seg ${cls}`, title: what, role: 'img', 'aria-label': what });
    // Set through the CSSOM: the policy forbids style attributes.
    seg.style.left = `${(((from - start) / span) * 100).toFixed(3)}%`;
    seg.style.width = `${Math.max(((to - from) / span) * 100, 0.2).toFixed(3)}%`;
    return seg;
  };
  for (const [id, n] of lanes) {
    const track = h('div', { class: 'track' });
    if (n.attempts.length > MAX_BARS) {
      // A fan-out of many items is one bar per phase, from its first start
      // to its last end, with the counts: thousands of slivers say less and
      // cost a repaint each.
      for (const phase of ['work', 'compensation']) {
        const list = n.attempts.filter((a) => a.phase === phase);
        if (!list.length) continue;
        const count = (st) => list.filter((a) => a.status === st).length;
        const [ok, failed, running] = [count('succeeded'), count('failed'), count('running')];
        const from = Math.min(...list.map((a) => a.startedAt));
        const to = Math.max(...list.map((a) => a.endedAt || now));
        const cls = `${running ? 'running' : failed ? 'failed' : 'succeeded'}${phase === 'compensation' ? ' compensation' : ''}`;
        track.append(bar(cls, from, to, `${id}${phase === 'compensation' ? ' compensation' : ''}: ${list.length} attempts, ${ok} succeeded, ${failed} failed, ${running} running, ${fmtDuration(to - from)}`));
      }
    } else {
      for (const a of n.attempts) {
        const what = `${id}${a.item !== null ? ` item ${a.item}` : ''}${a.phase === 'compensation' ? ' compensation' : ''}, attempt ${a.attempt}: ${a.status}, ${fmtDuration((a.endedAt || now) - a.startedAt)}`;
        track.append(bar(`${a.status}${a.phase === 'compensation' ? ' compensation' : ''}`, a.startedAt, a.endedAt || now, what));
      }
    }
    container.append(h('div', { class: 'lane' }, h('span', { class: 'name', title: id }, id), track));
  }
}
