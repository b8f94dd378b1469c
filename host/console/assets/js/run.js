// The run page: the whole DAG coloured by state and updated live from the
// run's event stream, the selected node's attempts, a timeline, the pinned
// version and plugin digests; the locks it waits for and who holds them,
// its parent and child runs; approve, reject and cancel, and for a held
// run the incident's retry, complete, skip and fail.

import { api, can, enc } from './api.js';
import { h, clear, put, pluginPairs, state, ago, fmtTime, fmtDuration, pretty, toast, ask, describe } from './dom.js';
import { drawGraph, legend, nodesOf } from './graph.js';
import { drawGantt } from './gantt.js';
import { RunModel, EVENT_KINDS, END_KINDS } from './runmodel.js';
import { incidentActions } from './incident.js';
import { waitsFor } from './locks.js';

const UNITS = {
  ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60000, min: 60000, mins: 60000, minute: 60000, minutes: 60000,
  h: 3600000, hr: 3600000, hrs: 3600000, hour: 3600000, hours: 3600000,
  d: 86400000, day: 86400000, days: 86400000, w: 604800000, week: 604800000, weeks: 604800000,
  M: 2630016000, month: 2630016000, months: 2630016000, y: 31557600000, year: 31557600000, years: 31557600000,
};

/** A definition's duration (`4h`, `1h 30m`, `2days`, as the server writes them) in ms, or null. */
function durationMs(text) {
  if (typeof text === 'number') return text * 1000;
  if (typeof text !== 'string') return null;
  let total = 0;
  let rest = text.trim();
  while (rest) {
    const m = rest.match(/^(\d+(?:\.\d+)?)\s*([a-zA-Zµ]+)\s*/);
    if (!m || UNITS[m[2]] === undefined) return null;
    total += Number(m[1]) * UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total || null;
}

/** A lock request as words: what it waits for, or what it holds (while `live`). */
function lockState(locks, live) {
  const keys = locks.keys.join(', ');
  if (!locks.held) return `waiting for ${keys} since ${fmtTime(locks.since)}`;
  return live ? `holds ${keys} since ${fmtTime(locks.since)}` : `${keys}, held from ${fmtTime(locks.since)} until it ended`;
}

const RESOLVED = { retry: 'Retried', complete: 'Completed by hand', skip: 'Skipped', fail: 'Run failed' };

/** Every stored event of run `id` after `after`, a page at a time. */
async function storedEvents(id, after = 0) {
  const all = [];
  for (let from = after; ;) {
    const page = (await api('GET', `/runs/${enc(id)}/events?after=${from}`)).events;
    all.push(...page);
    if (page.length < 10000) return all;
    from = page[page.length - 1].seq;
  }
}

export async function render(root, { id }, query = new URLSearchParams()) {
  // The run alone (one row), then its pinned version for the graph; the
  // stored events download meanwhile and are folded in one go, and only a
  // live run then follows its stream.
  const run = await api('GET', `/runs/${enc(id)}?nodes=false`);
  const stored = storedEvents(id);
  stored.catch(() => {});
  const wf = await api('GET', `/workflows/${enc(run.workflow)}/versions/${run.version}`);
  const nodes = nodesOf(wf.definition);
  const model = new RunModel(nodes);
  const deadline = durationMs(wf.definition && wf.definition.deadline);
  // A held run is not over: its stream stays open for what operators do.
  const going = () => model.status === 'running' || model.status === 'held';
  // The nodes that start child runs. The children come with the run's full
  // view (`GET /runs/ID`), read only for a run that has such nodes.
  const starters = new Set(nodes.filter((n) => n.type === 'workflow').map((n) => n.id));
  let children = [];
  let childTimer = 0;
  // A child's parent run (one row), for its workflow's name.
  let parentRun = null;
  // `GET /locks`, read while the run or a node waits for its locks.
  let lockList = null;
  let lockPolling = false;
  let lockTimer = 0;
  let selected = null;
  let stream = null;
  let frame = 0;
  let ganttAt = 0;
  let ganttTimer = 0;
  let closed = false;

  const statusEl = h('span', { id: 'run-status' });
  const actions = h('div', { class: 'row', id: 'run-actions' });
  const banner = h('div', { id: 'held', hidden: true });
  const lockBanner = h('div', { id: 'lock-wait', hidden: true });
  const summary = h('dl', { class: 'kv' });
  const family = h('div', { id: 'run-family' });
  const graphBox = h('div', { class: 'graph', id: 'graph' });
  const detail = h('div', { id: 'node-detail' }, h('p', { class: 'muted' }, 'Choose a node in the graph to see its attempts.'));
  const gantt = h('div', { class: 'gantt', id: 'gantt' });
  const pinned = h('div', { id: 'pinned' });
  const live = h('span', { class: 'muted', id: 'live' }, 'connecting…');

  root.append(
    h('div', { class: 'spread' },
      h('h1', {}, 'Run ', h('code', {}, id), ' ', statusEl),
      actions),
    banner,
    lockBanner,
    h('div', { class: 'split' },
      h('div', { class: 'column' },
        h('section', { class: 'panel', 'aria-label': 'Graph' },
          h('div', { class: 'spread' }, h('h2', {}, 'Graph'), live),
          graphBox, legend(state, true)),
        h('section', { class: 'panel', 'aria-label': 'Node' }, detail)),
      h('div', { class: 'column' },
        h('section', { class: 'panel', 'aria-label': 'Run' }, h('h2', {}, 'Run'), summary, family, pinned),
        h('section', { class: 'panel', 'aria-label': 'Timeline' }, h('h2', {}, 'Timeline'), gantt))));

  const graph = drawGraph(graphBox, nodes, {
    onSelect(nodeId) { choose(nodeId); },
  });
  function choose(nodeId) { selected = nodeId; graph.select(nodeId); renderDetail(); }

  {
    put(pinned, h('h2', {}, 'Pinned'),
      h('dl', { class: 'kv' }, h('dt', {}, 'Workflow'), h('dd', {}, h('a', { href: `#/workflows/${enc(run.workflow)}?version=${run.version}` }, `${run.workflow} v${run.version}`)),
        pluginPairs(wf.plugins)));
  }

  function decide(node, approved) {
    return async () => {
      const comment = await ask({ title: `${approved ? 'Approve' : 'Reject'} ${node}`, message: `Run ${id} of ${run.workflow}.`, comment: 'Comment (optional)', confirm: approved ? 'Approve' : 'Reject', danger: !approved });
      if (comment === null) return;
      try {
        await api('POST', `/runs/${enc(id)}/nodes/${enc(node)}/${approved ? 'approve' : 'reject'}`, comment ? { comment } : {});
        toast(`${approved ? 'Approved' : 'Rejected'} ${node}`);
      } catch (e) { toast(describe(e), 'error'); }
    };
  }

  async function cancel() {
    const reason = await ask({ title: 'Cancel this run?', message: 'Running attempts are stopped and compensations run as the workflow says.', comment: 'Reason', required: true, confirm: 'Cancel run', danger: true });
    if (reason === null) return;
    try { await api('POST', `/runs/${enc(id)}/cancel`, { reason }); toast('Cancelling'); } catch (e) { toast(describe(e), 'error'); }
  }

  let headerKey = '';
  const countEl = h('span', { id: 'event-count' }, '0');
  function renderHeader() {
    countEl.textContent = String(model.count);
    // Rebuilt only when what it shows changed, so focus stays on its buttons.
    const incidents = model.incidents();
    const key = JSON.stringify([model.status, model.approvals(), incidents, model.result, model.stopping, model.endedAt, model.locks]);
    if (key === headerKey) return;
    headerKey = key;
    put(statusEl, state(model.status));
    graphBox.classList.toggle('held', model.status === 'held');
    banner.hidden = model.status !== 'held';
    banner.className = model.status === 'held' ? 'held-banner' : '';
    if (model.status === 'held') {
      put(banner, h('strong', {}, '⚑ Held: '),
        incidents.length === 1 ? `node ${incidents[0]} failed and the run waits for an operator. ` : `${incidents.length} nodes failed and the run waits for an operator. `,
        incidents.map((node) => h('button', { class: 'quiet show-incident', 'data-node': node, onclick: () => choose(node) }, `Show ${node}`)),
        can('operator') ? null : h('span', { class: 'muted' }, ' An operator can retry, complete, skip or fail it.'));
    } else clear(banner);
    clear(actions);
    if (going() && can('operator')) {
      for (const node of model.approvals()) {
        actions.append(h('button', { class: 'ok approve', 'data-node': node, onclick: decide(node, true) }, `Approve: ${node}`),
          h('button', { class: 'danger reject', 'data-node': node, onclick: decide(node, false) }, `Reject: ${node}`));
      }
      actions.append(h('button', { class: 'quiet', id: 'cancel-run', onclick: cancel }, 'Cancel run'));
    }
    put(summary, [
      h('dt', {}, 'Workflow'), h('dd', {}, h('a', { href: `#/workflows/${enc(run.workflow)}` }, run.workflow), ` v${run.version}`),
      h('dt', {}, 'Trigger'), h('dd', {}, run.trigger || '–'),
      h('dt', {}, 'Key'), h('dd', { id: 'run-key' }, run.key ? h('a', { href: `#/runs?key=${enc(run.key)}`, title: 'Every run with this key' }, run.key) : '–'),
      deadline ? [h('dt', {}, 'Deadline'), h('dd', { id: 'run-deadline' }, `${fmtTime((model.startedAt || run.created_at) + deadline)} (${wf.definition.deadline} from the start)`)] : null,
      model.locks ? [h('dt', {}, 'Locks'), h('dd', { id: 'run-locks' }, lockState(model.locks, !model.endedAt))] : null,
      h('dt', {}, 'Started'), h('dd', {}, fmtTime(run.created_at)),
      h('dt', {}, 'Ended'), h('dd', {}, fmtTime(model.endedAt || run.finished_at)),
      h('dt', {}, 'Events'), h('dd', {}, countEl),
      h('dt', {}, 'Input'), h('dd', {}, h('pre', {}, pretty(run.input))),
      model.result && model.result.output !== undefined ? [h('dt', {}, 'Output'), h('dd', {}, h('pre', { id: 'run-output' }, pretty(model.result.output)))] : null,
      model.result && model.result.error ? [h('dt', {}, 'Error'), h('dd', {}, h('div', { class: 'alert', id: 'run-error' }, model.result.error))] : null,
      model.stopping && !model.result ? [h('dt', {}, 'Stopping'), h('dd', {}, `${model.stopping.ending}: ${model.stopping.reason}`)] : null,
    ].flat().filter(Boolean));
  }

  let locksKey = '';
  function renderLocks() {
    const waits = model.lockWaits();
    const key = JSON.stringify([waits, waits.length ? lockList : null]);
    if (key === locksKey) {
      for (const el of root.querySelectorAll('.lock-since')) el.textContent = ago(Number(el.dataset.since));
      return;
    }
    locksKey = key;
    lockBanner.hidden = !waits.length;
    lockBanner.className = waits.length ? 'lock-banner' : '';
    put(lockBanner, waits.map((w) => h('div', { class: 'lock-request', 'data-node': w.node || false },
      h('strong', {}, '‖ '),
      w.node ? ['Node ', h('button', { class: 'quiet show-node', 'data-node': w.node, onclick: () => choose(w.node) }, w.node), ' waits for its locks']
        : 'The run waits for its locks before its first node',
      h('span', { class: 'muted' }, ` (since ${fmtTime(w.since)}):`),
      waitsFor(id, w, lockList))));
    if (selected && waits.some((w) => w.node === selected)) renderDetail();
  }

  // Who holds what the run waits for, every 2 s while it waits.
  async function loadLocks() {
    clearTimeout(lockTimer);
    if (closed || !model.lockWaits().length) { lockPolling = false; return; }
    try { lockList = await api('GET', '/locks'); } catch { /* the wait is still shown, without its holders */ }
    if (closed) return;
    renderLocks();
    lockTimer = setTimeout(loadLocks, 2000);
  }

  function renderFamily() {
    const parent = run.parent;
    put(family,
      parent ? [h('h2', {}, 'Started by'),
        h('p', { id: 'run-parent' }, 'Node ', h('code', {}, parent.node), ' of ',
          h('a', { href: `#/runs/${enc(parent.run_id)}?node=${enc(parent.node)}`, class: 'parent-link' }, parentRun ? `${parentRun.workflow} v${parentRun.version}` : 'its parent run'),
          h('div', { class: 'muted' }, h('code', {}, parent.run_id)))] : null,
      starters.size || children.length ? [h('h2', {}, `Child runs (${children.length})`),
        children.length ? h('table', { id: 'run-children' }, h('thead', {}, h('tr', {}, h('th', {}, 'Run'), h('th', {}, 'Started by'), h('th', {}, 'State'))),
          h('tbody', {}, children.map((c) => h('tr', { class: 'child', 'data-run': c.id, 'data-node': c.node },
            h('td', {}, h('a', { href: `#/runs/${enc(c.id)}`, class: 'child-link' }, `${c.workflow} v${c.version}`), h('div', { class: 'muted' }, h('code', {}, c.id))),
            h('td', {}, h('button', { class: 'quiet show-node', onclick: () => choose(c.node) }, c.node)),
            h('td', {}, state(c.status))))))
          : h('p', { class: 'muted' }, 'No child run has started yet.')] : null);
  }

  // A child's state changes with no event of this run: while a node that
  // starts children runs, they are read again every 2 s.
  async function loadChildren() {
    clearTimeout(childTimer);
    const before = JSON.stringify(children);
    try { children = (await api('GET', `/runs/${enc(id)}`)).children || []; } catch { /* kept as they were */ }
    if (closed) return;
    // Repainted only when they changed, so focus and open details stay.
    if (JSON.stringify(children) !== before) {
      renderFamily();
      if (selected && starters.has(selected)) renderDetail();
    }
    if (going() && [...starters].some((n) => model.nodes.get(n).state === 'running')) childTimer = setTimeout(loadChildren, 2000);
  }

  function renderDetail() {
    if (!selected) return;
    const n = model.nodes.get(selected);
    if (!n) return;
    const def = nodes.find((x) => x.id === selected) || {};
    const rows = n.attempts.map((a) => h('tr', { class: `attempt ${a.status}` },
      h('td', {}, a.phase === 'compensation' ? `↺ ${a.attempt}` : String(a.attempt)),
      h('td', {}, a.item === null ? '' : String(a.item)),
      h('td', {}, state(a.status === 'running' ? 'running' : a.status)),
      h('td', {}, fmtTime(a.startedAt)),
      h('td', { class: 'num' }, fmtDuration(a.duration !== undefined ? a.duration : (a.endedAt || Date.now()) - a.startedAt)),
      h('td', {},
        a.error ? h('div', { class: 'alert' }, `${a.errorKind || 'error'}: ${a.error}`) : null,
        a.retryAt ? h('div', { class: 'muted' }, `retry at ${fmtTime(a.retryAt)}`) : null,
        a.output !== undefined ? h('details', {}, h('summary', {}, 'output'), h('pre', {}, pretty(a.output))) : null,
        a.logs.length ? h('details', {}, h('summary', {}, `${a.logs.length} log line(s)`), h('pre', { class: 'logs' }, a.logs.map((l) => `${l.level ? `[${l.level}] ` : ''}${l.message !== undefined ? l.message : JSON.stringify(l)}`).join('\n'))) : null,
        a.denials.length ? h('details', { open: true }, h('summary', {}, `${a.denials.length} denial(s)`), h('pre', { class: 'denials' }, a.denials.join('\n'))) : null)));
    const waitingApproval = n.state === 'waiting' && n.waiting && n.waiting.reason === 'approval' && going();
    const config = n.config !== undefined ? n.config : def.config;
    const node = selected;
    const mine = children.filter((c) => c.node === node);
    put(detail,
      h('div', { class: 'spread' }, h('h2', {}, 'Node ', h('code', {}, selected), ' ', state(n.state), n.incident ? [' ', state('incident')] : null),
        waitingApproval && can('operator') ? h('div', { class: 'row' },
          h('button', { class: 'ok approve', onclick: decide(selected, true) }, 'Approve'),
          h('button', { class: 'danger reject', onclick: decide(selected, false) }, 'Reject')) : null),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Type'), h('dd', {}, def.plugin || def.type || ''),
        def.needs && def.needs.length ? [h('dt', {}, 'Needs'), h('dd', {}, def.needs.join(', '))] : null,
        def.when ? [h('dt', {}, 'When'), h('dd', {}, h('code', {}, def.when))] : null,
        config !== undefined && config !== null ? [h('dt', {}, 'Config'), h('dd', {}, h('pre', { class: 'node-config' }, pretty(config)))] : null,
        n.items !== null ? [h('dt', {}, 'Items'), h('dd', {}, `${n.itemsDone} of ${n.items} done${n.itemsFailed ? `, ${n.itemsFailed} failed` : ''}`)] : null,
        n.waiting ? [h('dt', {}, 'Waiting'), h('dd', {}, `for ${n.waiting.reason} since ${fmtTime(n.waiting.since)}${n.waiting.until ? `, until ${fmtTime(n.waiting.until)}` : ''}`)] : null,
        n.locks ? [h('dt', {}, 'Locks'), h('dd', { id: 'node-locks' }, lockState(n.locks, going() && (n.incident || ['pending', 'running', 'waiting'].includes(n.state))),
          n.locks.held ? null : waitsFor(id, { node, keys: n.locks.keys }, lockList))] : null,
        starters.has(node) ? [h('dt', {}, 'Starts'), h('dd', {}, def.workflow ? h('a', { href: `#/workflows/${enc(def.workflow)}` }, def.workflow) : '', def.version ? ` v${def.version}` : ', its newest version'),
          h('dt', {}, 'Child runs'), h('dd', { id: 'node-children' }, mine.length ? mine.map((c) => h('div', { class: 'child', 'data-run': c.id },
            h('a', { href: `#/runs/${enc(c.id)}`, class: 'child-link' }, h('code', {}, c.id)), ' ', state(c.status)))
            : h('span', { class: 'muted' }, 'none started yet'))] : null,
        n.decision ? [h('dt', {}, n.decision.approved ? 'Approved' : 'Rejected'), h('dd', {}, `by ${n.decision.actor || '?'} at ${fmtTime(n.decision.at)}${n.decision.comment ? `: “${n.decision.comment}”` : ''}`)] : null,
        n.error && !n.incident ? [h('dt', {}, 'Error'), h('dd', {}, h('div', { class: 'alert' }, n.error))] : null,
        n.input !== undefined ? [h('dt', {}, 'Input'), h('dd', {}, h('pre', {}, pretty(n.input)))] : null,
        n.output !== undefined ? [h('dt', {}, 'Output'), h('dd', {}, h('pre', { class: 'node-output' }, pretty(n.output)))] : null,
        n.compensation ? [h('dt', {}, 'Compensation'), h('dd', {}, `${n.compensation.status}${n.compensation.error ? `: ${n.compensation.error}` : ''}`)] : null),
      h('h2', {}, `Attempts (${n.attempts.length})`),
      n.attempts.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'Item'), h('th', {}, 'State'), h('th', {}, 'Started'), h('th', { class: 'num' }, 'Took'), h('th', {}, 'Result'))), h('tbody', {}, rows))
        : h('p', { class: 'muted' }, 'No attempts.'));
    if (n.incident) {
      detail.firstChild.after(h('div', { class: 'incident-box', id: 'incident', 'data-node': node },
        h('h2', {}, '⚑ Incident'),
        h('p', {}, `This node failed for good ${fmtTime(n.incident.since)}, and the run is held until an operator acts.`),
        h('div', { class: 'alert', id: 'incident-error' }, n.incident.error),
        model.status === 'held' && can('operator')
          ? incidentActions({ run: id, node, task: (def.type || 'task') === 'task', config: () => (n.config !== undefined ? n.config : def.config) })
          : null));
    }
    if (n.resolutions.length) {
      detail.append(h('h2', {}, 'Operators'), h('ul', { class: 'resolutions' }, n.resolutions.map((r) => h('li', { class: 'resolution', 'data-action': r.action },
        `${RESOLVED[r.action] || r.action} by ${r.actor || '?'} at ${fmtTime(r.at)}${r.comment ? `: “${r.comment}”` : ''}`,
        r.config !== undefined ? h('details', {}, h('summary', {}, 'corrected config'), h('pre', {}, pretty(r.config))) : null,
        r.input !== undefined ? h('details', {}, h('summary', {}, 'corrected input'), h('pre', {}, pretty(r.input))) : null))));
    }
  }

  function paint() {
    frame = 0;
    if (closed) return;
    graph.update(model.view());
    renderHeader();
    renderLocks();
    if (!lockPolling && model.lockWaits().length) { lockPolling = true; loadLocks(); }
    // A run that is held while watched shows its incident at once.
    if (!selected && model.open.size) choose(model.incidents()[0]);
    if (selected && model.dirty.has(selected)) renderDetail();
    model.dirty.clear();
    // The timeline is the costliest part: at most twice a second, and
    // always once more after the last change.
    const now = Date.now();
    clearTimeout(ganttTimer);
    if (now - ganttAt > 500) { ganttAt = now; drawGantt(gantt, model, now); }
    else ganttTimer = setTimeout(() => { ganttAt = Date.now(); if (!closed) drawGantt(gantt, model); }, 500 - (now - ganttAt));
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(paint); };

  function connect() {
    stream = new EventSource(`/api/v1/runs/${enc(id)}/events?after=${model.lastSeq}`);
    const onEvent = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch { return; }
      model.apply(ev);
      // A child starts or ends: read the children again, a moment later
      // (the child's row is written just after its node's attempt starts).
      const about = (ev.data && ev.data.node) || ev.node_id;
      if (starters.has(about) && !closed) { clearTimeout(childTimer); childTimer = setTimeout(loadChildren, 300); }
      live.textContent = going() ? `live · ${model.count} events` : `${model.count} events`;
      if (END_KINDS.has(ev.kind)) { stream.close(); }
      schedule();
    };
    for (const kind of EVENT_KINDS) stream.addEventListener(kind, onEvent);
    stream.addEventListener('open', () => { live.textContent = `live · ${model.count} events`; });
    stream.addEventListener('error', () => {
      if (stream.readyState === EventSource.CLOSED && going() && !closed) {
        live.textContent = 'stream lost; reconnecting…';
        setTimeout(() => { if (!closed) connect(); }, 2000);
      } else if (going()) live.textContent = 'reconnecting…';
    });
  }
  for (const ev of await stored) model.apply(ev);
  if (going()) connect();
  else live.textContent = `${model.count} events`;
  renderFamily();
  if (starters.size) loadChildren();
  if (run.parent) {
    api('GET', `/runs/${enc(run.parent.run_id)}?nodes=false`)
      .then((p) => { parentRun = p; if (!closed) renderFamily(); })
      .catch(() => { /* the link names the run without its workflow */ });
  }
  schedule();
  // The node asked for in the address, else an incident, a failure or a wait.
  const asked = query.get('node');
  const first = (asked && model.nodes.has(asked) ? asked : null) || model.incidents()[0]
    || ([...model.nodes].find(([, n]) => n.state === 'failed') || [...model.nodes].find(([, n]) => n.state === 'waiting') || [])[0];
  if (first) choose(first);

  return () => { closed = true; clearTimeout(ganttTimer); clearTimeout(childTimer); clearTimeout(lockTimer); if (stream) stream.close(); if (frame) cancelAnimationFrame(frame); };
}
