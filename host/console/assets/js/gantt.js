// A timeline of a run's attempts: one lane per node, one bar per attempt.

import { h, clear, fmtDuration, fmtTime } from './dom.js';

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
  if (!lanes.length) {
    container.append(h('p', { class: 'muted' }, 'No attempts yet.'));
    return;
  }
  const span = Math.max(end - start, 1);
  container.append(h('div', { class: 'spread muted' }, h('span', {}, fmtTime(start)), h('span', {}, `${fmtDuration(span)} in all`), h('span', {}, fmtTime(end))));
  for (const [id, n] of lanes) {
    const track = h('div', { class: 'track' });
    for (const a of n.attempts) {
      const left = ((a.startedAt - start) / span) * 100;
      const width = (((a.endedAt || now) - a.startedAt) / span) * 100;
      const what = `${id}${a.item !== null ? ` item ${a.item}` : ''}${a.phase === 'compensation' ? ' compensation' : ''}, attempt ${a.attempt}: ${a.status}, ${fmtDuration((a.endedAt || now) - a.startedAt)}`;
      const seg = h('div', {
        class: `seg ${a.status}${a.phase === 'compensation' ? ' compensation' : ''}`,
        title: what, role: 'img', 'aria-label': what,
      });
      // Set through the CSSOM: the policy forbids style attributes.
      seg.style.left = `${left.toFixed(3)}%`;
      seg.style.width = `${Math.max(width, 0.2).toFixed(3)}%`;
      track.append(seg);
    }
    container.append(h('div', { class: 'lane' }, h('span', { class: 'name', title: id }, id), track));
  }
}
