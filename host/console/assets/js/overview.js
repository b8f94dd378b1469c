// The operator's home: the interlock, the held runs' incidents, the
// equipment locks and who waits for them, the runs waiting for a person,
// active runs, the latest failures and the engine's health. Refreshed every
// 2 s.

import { api, can, enc } from './api.js';
import { h, put, state, fmtTime, ago, toast, ask, alertBox, describe } from './dom.js';
import { incidentActions } from './incident.js';
import { inUse, who } from './locks.js';

export async function render(root) {
  const interlock = h('section', { class: 'panel interlock', id: 'interlock', 'aria-label': 'Safety interlock' });
  const incidents = h('section', { class: 'panel', id: 'incidents', 'aria-label': 'Incidents' });
  const locks = h('section', { class: 'panel', id: 'locks', 'aria-label': 'Equipment locks' });
  const approvals = h('section', { class: 'panel', id: 'approvals', 'aria-label': 'Waiting for a person' });
  const active = h('section', { class: 'panel', id: 'active', 'aria-label': 'Active runs' });
  const failures = h('section', { class: 'panel', id: 'failures', 'aria-label': 'Latest failures' });
  const health = h('section', { class: 'panel', id: 'health', 'aria-label': 'Engine health' });
  root.append(h('h1', {}, 'Overview'), interlock, incidents, locks, h('div', { class: 'grid' }, approvals, active), h('div', { class: 'grid' }, failures, health));
  // Comments typed into the approvals list survive the refresh.
  const drafts = new Map();
  let timer = 0;
  let closed = false;
  let incidentsKey = '';
  let locksKey = '';

  async function engage() {
    try {
      await api('POST', '/interlock', {});
      toast('Interlock engaged: every actuation is denied');
      refresh();
    } catch (e) { toast(describe(e), 'error'); }
  }

  async function release() {
    const comment = await ask({
      title: 'Release the safety interlock?',
      message: 'Runs may start again and tasks may write to PLCs and publish. Say why that is safe.',
      comment: 'Why it is safe (required)', required: true, confirm: 'Release interlock', danger: true,
    });
    if (comment === null) return;
    try {
      await api('DELETE', '/interlock', { comment });
      toast('Interlock released');
      refresh();
    } catch (e) { toast(describe(e), 'error'); }
  }

  function decide(a, approved) {
    return async () => {
      const key = `${a.run}/${a.node}`;
      const comment = (drafts.get(key) || '').trim();
      try {
        await api('POST', `/runs/${enc(a.run)}/nodes/${enc(a.node)}/${approved ? 'approve' : 'reject'}`, comment ? { comment } : {});
        drafts.delete(key);
        toast(`${approved ? 'Approved' : 'Rejected'} ${a.workflow} / ${a.node}`);
        refresh();
      } catch (e) { toast(describe(e), 'error'); }
    };
  }

  function paintInterlock(il) {
    interlock.classList.toggle('engaged', il.engaged);
    const mayRelease = can(il.release_role || 'admin');
    put(interlock, 
      h('div', {}, h('h2', {}, 'Safety interlock'),
        h('div', { class: 'big', id: 'interlock-state', 'data-engaged': String(il.engaged) }, il.engaged ? '⛔ ENGAGED: actuation denied, no run may start' : '● Released'),
        il.confirmed === false ? h('p', { class: 'note', id: 'interlock-unconfirmed' }, 'This node cannot read the interlock state from the database, so it denies actuation until it can.') : null),
      h('div', { class: 'row' },
        !il.engaged && can('operator') ? h('button', { class: 'danger', id: 'interlock-engage', onclick: engage }, 'Engage interlock') : null,
        il.engaged && mayRelease ? h('button', { class: 'quiet', id: 'interlock-release', onclick: release }, 'Release…') : null,
        il.engaged && !mayRelease ? h('span', { class: 'muted' }, `Releasing needs the ${il.release_role} role.`) : null));
  }

  function paintApprovals(list) {
    const rows = list.approvals.map((a) => {
      const key = `${a.run}/${a.node}`;
      const input = h('input', { class: 'approval-comment', type: 'text', placeholder: 'comment', 'aria-label': `Comment for ${a.workflow} ${a.node}`, value: drafts.get(key) || '' });
      input.addEventListener('input', () => drafts.set(key, input.value));
      return h('tr', { class: 'approval', 'data-run': a.run, 'data-node': a.node },
        h('td', {}, h('a', { href: `#/runs/${enc(a.run)}` }, a.workflow), h('div', { class: 'muted' }, h('code', {}, a.run))),
        h('td', {}, a.node),
        h('td', {}, a.since ? ago(a.since) : fmtTime(a.run_created_at), a.until ? h('div', { class: 'muted' }, `until ${fmtTime(a.until)}`) : null),
        can('operator') ? h('td', {}, h('div', { class: 'row' }, input,
          h('button', { class: 'ok approve', onclick: decide(a, true) }, 'Approve'),
          h('button', { class: 'danger reject', onclick: decide(a, false) }, 'Reject'))) : null);
    });
    put(approvals, h('h2', {}, `Waiting for a person (${list.approvals.length})`),
      rows.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Run'), h('th', {}, 'Step'), h('th', {}, 'Waiting'), can('operator') ? h('th', {}, 'Decision') : null)), h('tbody', {}, rows))
        : h('p', { class: 'muted' }, 'Nothing is waiting for a decision.'),
      list.truncated ? h('p', { class: 'note' }, 'More runs are active than this list scans.') : null);
  }

  function paintIncidents(list) {
    // Repainted only when the list changed, so focus stays on its buttons;
    // the times held are brought up to date in place.
    const key = JSON.stringify(list.incidents.map((i) => [i.run_id, i.node, i.error, i.since]));
    if (key === incidentsKey) {
      for (const el of incidents.querySelectorAll('.held-since')) el.textContent = ago(Number(el.dataset.since));
      return;
    }
    incidentsKey = key;
    const operator = can('operator');
    const rows = list.incidents.map((i) => {
      const open = `#/runs/${enc(i.run_id)}?node=${enc(i.node)}`;
      return h('tr', { class: 'incident', 'data-run': i.run_id, 'data-node': i.node },
        h('td', {}, h('a', { href: open }, `${i.workflow} v${i.version}`), h('div', { class: 'muted' }, h('code', {}, i.run_id))),
        h('td', {}, i.key ? h('a', { href: `#/runs?key=${enc(i.key)}`, class: 'run-key' }, i.key) : h('span', { class: 'muted' }, '–')),
        h('td', {}, h('code', {}, i.node)),
        h('td', { class: 'incident-error' }, i.error),
        h('td', {}, h('span', { class: 'held-since', 'data-since': i.since, title: fmtTime(i.since) }, ago(i.since))),
        h('td', {}, operator
          ? [incidentActions({ run: i.run_id, node: i.node, done: refresh }), h('a', { href: open, class: 'repair' }, 'Open the run to correct its config')]
          : h('a', { href: open, class: 'repair' }, 'Open the run')));
    });
    incidents.classList.toggle('open', rows.length > 0);
    put(incidents, h('h2', {}, rows.length ? `⚑ Incidents: held runs (${rows.length})` : 'Incidents'),
      rows.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Run'), h('th', {}, 'Key'), h('th', {}, 'Node'), h('th', {}, 'Error'), h('th', {}, 'Held'), h('th', {}, operator ? 'Action' : ''))), h('tbody', {}, rows))
        : h('p', { class: 'muted' }, 'No run is held on a failure.'));
  }

  function paintLocks(list) {
    // As the incidents: repainted only when who holds or waits changed.
    const used = inUse(list);
    const key = JSON.stringify(used);
    if (key === locksKey) {
      for (const el of locks.querySelectorAll('.lock-since')) el.textContent = ago(Number(el.dataset.since));
      return;
    }
    locksKey = key;
    const rows = used.map((l) => h('tr', { class: 'lock', 'data-lock': l.key },
      h('td', {}, h('code', { class: 'lock-key' }, l.key), l.limit > 1 ? h('div', { class: 'muted' }, `${l.holders.length} of ${l.limit} held`) : null),
      h('td', { class: 'lock-holders' }, l.holders.length ? l.holders.map((w) => who(w)) : h('span', { class: 'muted' }, 'free')),
      h('td', { class: 'lock-queue' }, l.queue.length ? l.queue.map((w, i) => who(w, { cls: 'lock-queued', held: false, place: i + 1 })) : h('span', { class: 'muted' }, 'nobody'))));
    // Idle, it is one line, so the approvals below stay in view.
    locks.classList.toggle('idle', !rows.length);
    put(locks, h('h2', {}, rows.length ? `Locks (${rows.length} in use)` : 'Locks'),
      rows.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Lock'), h('th', {}, 'Held by'), h('th', {}, 'Waiting, in the order they get it'))), h('tbody', {}, rows))
        : h('span', { class: 'muted', id: 'locks-none' }, 'No equipment lock is held or waited for.'));
  }

  function runTable(runs, withError) {
    return h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Run'), h('th', {}, 'State'), h('th', {}, 'Started'), withError ? h('th', {}, 'Error') : null)),
      h('tbody', {}, runs.map((r) => h('tr', { 'data-run': r.id },
        h('td', {}, h('a', { href: `#/runs/${enc(r.id)}` }, `${r.workflow} v${r.version}`), h('div', { class: 'muted' }, h('code', {}, r.id))),
        h('td', {}, state(r.status)), h('td', {}, ago(r.created_at)),
        withError ? h('td', {}, r.error || '') : null))));
  }

  function paintNodes(cl) {
    if (!cl) return null;
    const me = cl.node || {};
    const row = (n) => h('tr', { 'data-node': n.id },
      h('td', {}, n.id, n.id === me.id ? h('span', { class: 'muted' }, ' (this one)') : null),
      h('td', {}, h('span', { class: `state ${n.alive ? 'succeeded' : n.stopped_at ? 'pending' : 'failed'}` }, n.alive ? 'alive' : n.stopped_at ? 'stopped' : 'silent')),
      h('td', {}, `${Math.round(n.heartbeat_age_ms / 100) / 10} s ago`),
      h('td', {}, String(n.runs)));
    return [h('h2', {}, me.clustered ? 'Nodes' : 'Node'),
      !me.healthy ? h('p', { class: 'note', id: 'node-problem' }, `This node cannot hold its lease: ${me.problem || 'no heartbeat'}`) : null,
      me.clustered
        ? h('table', { id: 'nodes' }, h('thead', {}, h('tr', {}, h('th', {}, 'Node'), h('th', {}, 'State'), h('th', {}, 'Heard from'), h('th', {}, 'Runs'))), h('tbody', {}, (cl.nodes || []).map(row)))
        : h('p', { class: 'muted', id: 'nodes' }, `${me.id}: one node on SQLite.`)];
  }

  function paintHealth(st, cl) {
    const link = (c) => h('tr', { 'data-connector': c.name },
      h('td', {}, c.name), h('td', {}, h('span', { class: `state ${c.state === 'connected' ? 'succeeded' : c.state === 'offline' ? 'failed' : 'pending'}` }, c.state)),
      h('td', {}, c.last_error ? `${c.last_error}${c.last_error_at ? ` (${ago(c.last_error_at)})` : ''}` : ''));
    const con = st.connectors || { plc: [], mqtt: [] };
    put(health, h('h2', {}, 'Engine'),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Queue depth'), h('dd', { id: 'queue-depth' }, String(st.queue_depth)),
        h('dt', {}, 'Free task slots'), h('dd', { id: 'free-slots' }, String(st.free_task_slots)),
        h('dt', {}, 'Attempts running'), h('dd', {}, String(st.attempts_running)),
        h('dt', {}, 'Active runs'), h('dd', {}, String(st.active_runs))),
      h('h2', {}, 'Connections'),
      h('table', { id: 'connectors' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'State'), h('th', {}, 'Last error'))),
        h('tbody', {},
          con.plc.length ? h('tr', {}, h('th', { colspan: 3 }, 'PLC devices')) : null, con.plc.map(link),
          con.mqtt.length ? h('tr', {}, h('th', { colspan: 3 }, 'MQTT brokers')) : null, con.mqtt.map(link))),
      paintNodes(cl));
  }

  async function refresh() {
    clearTimeout(timer);
    const focused = document.activeElement;
    const typing = focused && focused.classList && focused.classList.contains('approval-comment');
    const [il, list, held, taken, running, failed, st, cl] = await Promise.allSettled([
      api('GET', '/interlock'), api('GET', '/approvals'), api('GET', '/incidents'), api('GET', '/locks'), api('GET', '/runs?status=running&limit=20'),
      api('GET', '/runs?status=failed&limit=10'), api('GET', '/status'), api('GET', '/cluster')]);
    if (closed) return;
    if (il.status === 'fulfilled') paintInterlock(il.value); else put(interlock, alertBox(il.reason));
    if (held.status === 'fulfilled') paintIncidents(held.value);
    else { incidentsKey = ''; put(incidents, h('h2', {}, 'Incidents'), alertBox(held.reason)); }
    if (taken.status === 'fulfilled') paintLocks(taken.value);
    else { locksKey = ''; put(locks, h('h2', {}, 'Locks'), alertBox(taken.reason)); }
    // Do not repaint the list under someone typing a comment into it.
    if (!typing) {
      if (list.status === 'fulfilled') paintApprovals(list.value); else put(approvals, h('h2', {}, 'Waiting for a person'), alertBox(list.reason));
    }
    if (running.status === 'fulfilled') put(active, h('h2', {}, `Active runs (${running.value.runs.length})`), running.value.runs.length ? runTable(running.value.runs, false) : h('p', { class: 'muted' }, 'No run is active.'));
    if (failed.status === 'fulfilled') put(failures, h('h2', {}, 'Latest failures'), failed.value.runs.length ? runTable(failed.value.runs, true) : h('p', { class: 'muted' }, 'No failed runs.'));
    if (st.status === 'fulfilled') paintHealth(st.value, cl.status === 'fulfilled' ? cl.value : null); else put(health, h('h2', {}, 'Engine'), alertBox(st.reason));
    timer = setTimeout(refresh, 2000);
  }
  await refresh();
  return () => { closed = true; clearTimeout(timer); };
}
