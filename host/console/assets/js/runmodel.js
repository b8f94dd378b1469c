// A run's state, folded from its events exactly as they arrive on the
// stream: node states (with compensation), foreach item counts, attempts
// with their times, logs and denials, the approvals and equipment locks it
// waits for, and the incidents that hold it with what operators did about
// them.

export const EVENT_KINDS = [
  'run_started', 'node_started', 'attempt_started', 'attempt_succeeded', 'attempt_failed',
  'node_waiting', 'node_approved', 'node_rejected', 'node_timed_out', 'node_succeeded',
  'node_failed', 'node_skipped', 'node_cancelled', 'run_stopping', 'compensation_started',
  'compensation_succeeded', 'compensation_failed', 'run_succeeded', 'run_failed', 'run_cancelled',
  'incident_opened', 'incident_resolved', 'locks_requested', 'locks_acquired',
];

export const END_KINDS = new Set(['run_succeeded', 'run_failed', 'run_cancelled']);

/**
 * The events a `node_succeeded` that carries a folded `step` stands for,
 * as the engine's `Event::unfolded` gives them.
 */
function unfolded(ev) {
  const { node, output, step } = ev.data;
  const at = { at: ev.at, node_id: ev.node_id, actor: ev.actor };
  const attempt = { node, phase: 'run', attempt: step.attempt };
  return [
    { ...at, kind: 'node_started', data: { node, input: step.input } },
    { ...at, kind: 'attempt_started', data: attempt },
    {
      ...at,
      kind: 'attempt_succeeded',
      data: { ...attempt, output, duration_ms: step.duration_ms, logs: step.logs, denials: step.denials },
    },
    { ...at, kind: 'node_succeeded', data: { node, output } },
  ];
}

function freshNode() {
  return {
    state: 'pending', input: undefined, output: undefined, error: null, items: null,
    itemsDone: 0, itemsFailed: 0, attempts: [], waiting: null, decision: null, compensation: null,
    incident: null, resolutions: [], config: undefined, locks: null,
  };
}

export class RunModel {
  constructor(nodes) {
    this.order = nodes.map((n) => n.id);
    this.nodes = new Map(nodes.map((n) => [n.id, freshNode()]));
    this.status = 'running';
    this.lastSeq = 0;
    this.count = 0;
    this.startedAt = null;
    this.endedAt = null;
    this.stopping = null;
    this.result = null;
    // The run's own locks: `{keys, reject, since, held}` once asked for.
    this.locks = null;
    this.open = new Set();
    this.dirty = new Set();
  }

  node(id) {
    if (!this.nodes.has(id)) { this.nodes.set(id, freshNode()); this.order.push(id); }
    return this.nodes.get(id);
  }

  attempt(n, d, at) {
    const item = d.item === undefined ? null : d.item;
    const phase = d.phase || 'work';
    let a = n.attempts.find((x) => x.item === item && x.phase === phase && x.attempt === d.attempt);
    if (!a) {
      a = { item, phase, attempt: d.attempt, startedAt: at, endedAt: null, status: 'running', logs: [], denials: [] };
      n.attempts.push(a);
    }
    return a;
  }

  /** Apply one stored event `{seq, at, kind, node_id, actor, data}`. */
  apply(ev) {
    if (ev.seq <= this.lastSeq) return;
    this.lastSeq = ev.seq;
    this.count += 1;
    this.fold(ev);
  }

  /** Fold one event into the model, whatever its sequence number. */
  fold(ev) {
    const d = ev.data || {};
    const id = d.node || ev.node_id;
    const n = id ? this.node(id) : null;
    if (id) this.dirty.add(id);
    switch (ev.kind) {
      case 'run_started': this.startedAt = ev.at; break;
      case 'node_started':
        n.state = 'running'; n.input = d.input;
        if (d.items) { n.items = d.items.length; n.itemsDone = 0; n.itemsFailed = 0; }
        break;
      case 'attempt_started': {
        const a = this.attempt(n, d, ev.at);
        a.startedAt = ev.at; a.resumed = Boolean(d.resumed); a.status = 'running';
        if ((d.phase || 'work') === 'work' && n.state === 'pending') n.state = 'running';
        break;
      }
      case 'attempt_succeeded': case 'attempt_failed': {
        const a = this.attempt(n, d, ev.at);
        a.endedAt = ev.at;
        a.duration = d.duration_ms;
        if (a.startedAt === ev.at && d.duration_ms) a.startedAt = ev.at - d.duration_ms;
        a.logs = d.logs || []; a.denials = d.denials || [];
        if (ev.kind === 'attempt_succeeded') {
          a.status = 'succeeded'; a.output = d.output;
          if (n.items !== null && a.item !== null && a.phase === 'work') n.itemsDone += 1;
        } else {
          a.status = 'failed'; a.error = d.error; a.errorKind = d.kind; a.retryAt = d.retry_at || null;
          if (n.items !== null && a.item !== null && a.phase === 'work' && !d.retry_at) n.itemsFailed += 1;
        }
        break;
      }
      case 'node_waiting': n.state = 'waiting'; n.waiting = { reason: d.reason, until: d.until || null, since: ev.at }; break;
      case 'node_approved': case 'node_rejected':
        n.decision = { approved: ev.kind === 'node_approved', actor: ev.actor, comment: d.comment || null, at: ev.at };
        n.waiting = null; break;
      case 'node_timed_out': n.waiting = null; n.timedOut = d.outcome; break;
      case 'node_succeeded':
        // A pure step committed whole is the four events it stands for.
        if (d.step) { for (const part of unfolded(ev)) this.fold(part); break; }
        n.state = 'succeeded'; n.output = d.output; n.waiting = null; break;
      case 'node_failed': n.state = 'failed'; n.error = d.error; n.waiting = null; break;
      case 'node_skipped': n.state = 'skipped'; n.error = d.reason; break;
      case 'node_cancelled': n.state = 'cancelled'; n.waiting = null; break;
      case 'compensation_started': n.state = 'compensating'; n.compensation = { input: d.input, status: 'running' }; break;
      case 'compensation_succeeded': n.state = 'compensated'; n.compensation = { ...(n.compensation || {}), status: 'succeeded', output: d.output }; break;
      case 'compensation_failed':
        n.state = 'failed';
        n.compensation = { ...(n.compensation || {}), status: 'failed', error: d.error };
        n.error = `compensation failed: ${d.error}`; break;
      case 'incident_opened':
        n.state = 'failed'; n.error = d.error; n.incident = { error: d.error, since: ev.at };
        this.open.add(id);
        break;
      case 'incident_resolved':
        n.incident = null;
        this.open.delete(id);
        n.resolutions.push({ action: d.action, actor: ev.actor, comment: d.comment || null, config: d.config, input: d.input, at: ev.at });
        if (d.action === 'retry') {
          // As the engine does: the failed executions start again, or the
          // whole node if it failed before any attempt.
          n.error = null; n.itemsFailed = 0;
          if (d.config !== undefined) n.config = d.config;
          if (d.input !== undefined) n.input = d.input;
          n.state = n.attempts.length || d.input !== undefined ? 'running' : 'pending';
        }
        break;
      case 'locks_requested': {
        const locks = { keys: (d.locks || []).map((l) => l.key), reject: Boolean(d.reject), since: ev.at, held: false };
        // As the engine does: a node waits for its locks before it starts.
        if (n) { n.locks = locks; n.state = 'waiting'; n.waiting = { reason: 'locks', until: null, since: ev.at }; } else this.locks = locks;
        break;
      }
      case 'locks_acquired': {
        const locks = n ? n.locks : this.locks;
        if (locks) { locks.held = true; locks.since = ev.at; }
        if (n && n.state === 'waiting') { n.state = 'pending'; n.waiting = null; }
        break;
      }
      case 'run_stopping': this.stopping = { ending: d.ending, reason: d.reason }; break;
      case 'run_succeeded': this.status = 'succeeded'; this.endedAt = ev.at; this.result = { output: d.output }; break;
      case 'run_failed': this.status = 'failed'; this.endedAt = ev.at; this.result = { error: d.error }; break;
      case 'run_cancelled': this.status = 'cancelled'; this.endedAt = ev.at; this.result = { error: d.reason }; break;
      default: break;
    }
    // Held while a node has an open incident and the run is neither ending
    // nor over.
    if (!this.endedAt) this.status = !this.stopping && this.open.size ? 'held' : 'running';
  }

  /** What the graph shows for each node: `{state, detail}`. */
  view() {
    const out = {};
    for (const [id, n] of this.nodes) {
      let detail = '';
      if (n.items !== null) detail = `${n.itemsDone}/${n.items} items${n.itemsFailed ? `, ${n.itemsFailed} failed` : ''}`;
      else {
        const work = n.attempts.filter((a) => a.phase === 'work');
        const last = work[work.length - 1];
        if (last && last.attempt > 1) detail = `attempt ${last.attempt}`;
      }
      if (n.state === 'waiting' && n.waiting) detail = n.waiting.reason;
      if (n.incident) detail = 'incident';
      out[id] = { state: n.state, detail, incident: Boolean(n.incident) };
    }
    return out;
  }

  /** Nodes with an open incident, in the workflow's order. */
  incidents() {
    return this.order.filter((id) => this.open.has(id));
  }

  /**
   * The lock requests still waiting while the run goes on: `{node, keys,
   * since}`, `node` null for the run's own, the run's first.
   */
  lockWaits() {
    if (this.endedAt) return [];
    const run = this.locks && !this.locks.held ? [{ node: null, keys: this.locks.keys, since: this.locks.since }] : [];
    const nodes = this.order.map((id) => [id, this.nodes.get(id)])
      .filter(([, n]) => n.state === 'waiting' && n.waiting && n.waiting.reason === 'locks' && n.locks)
      .map(([id, n]) => ({ node: id, keys: n.locks.keys, since: n.locks.since }));
    return [...run, ...nodes];
  }

  /** Nodes waiting for an operator's approval. */
  approvals() {
    return [...this.nodes].filter(([, n]) => n.state === 'waiting' && n.waiting && n.waiting.reason === 'approval').map(([id]) => id);
  }
}
