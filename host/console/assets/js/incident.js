// What an operator can do about an incident, a held run's node that failed
// for good: retry it (with a corrected config or input), complete it by
// hand, skip it, or fail the run. The overview and the run page share these
// buttons and their dialogs.

import { api, enc } from './api.js';
import { h, dialog, pretty, toast } from './dom.js';

const DONE = {
  retry: (node) => `Retrying ${node}`,
  complete: (node) => `Completed ${node} by hand`,
  skip: (node) => `Skipped ${node}`,
  fail: () => 'The run is failing; compensations run',
};

/** Only the fields that were given: an empty comment is no comment. */
function given(body) {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== ''));
}

/**
 * The action buttons for the incident on `node` of run `run`. With `task`,
 * Retry also offers the node's config (`config()` gives the one it runs
 * with now) and input to correct; without it (the overview), Retry runs the
 * node as it is. `done(action)` follows each action the server took.
 */
export function incidentActions({ run, node, task = false, config = () => undefined, done = () => {} }) {
  const post = (action) => async (body) => {
    await api('POST', `/runs/${enc(run)}/nodes/${enc(node)}/${action}`, given(body));
    toast(DONE[action](node));
    done(action);
    return action;
  };

  async function retry() {
    const current = config();
    const before = current === undefined ? '' : pretty(current);
    const fields = task ? [
      { name: 'config', label: 'Config (JSON)', json: true, value: before, rows: Math.min(14, before.split('\n').length + 1), hint: 'The node\'s whole config. Left as it is, the node runs with it unchanged.' },
      { name: 'input', label: 'Input (JSON, optional)', json: true, rows: 3, hint: 'Left empty, the node keeps its input.' },
    ] : [];
    await dialog({
      title: `Retry ${node}`,
      message: task ? 'The node runs again with a fresh retry budget; the nodes it needs do not run again.'
        : 'The node runs again as it is, with a fresh retry budget. To correct its config or input, open the run.',
      fields: [...fields, { name: 'comment', label: 'Comment (optional)' }],
      confirm: 'Retry',
      submit: ({ config: corrected, input, comment }) => post('retry')({
        // Sent only when changed, so a plain retry records no new config.
        config: corrected !== undefined && JSON.stringify(corrected) !== JSON.stringify(JSON.parse(before || 'null')) ? corrected : undefined,
        input, comment,
      }),
    });
  }

  async function complete() {
    await dialog({
      title: `Complete ${node} by hand`,
      message: 'The node succeeds with this output, which the nodes after it read. Say why, for the record.',
      fields: [
        { name: 'output', label: 'Output (JSON)', json: true, required: true, rows: 4 },
        { name: 'comment', label: 'Why (required)', required: true },
      ],
      confirm: 'Complete by hand',
      submit: post('complete'),
    });
  }

  async function skip() {
    await dialog({
      title: `Skip ${node}?`,
      message: 'The node is skipped, and so is every node that needs only it.',
      fields: [{ name: 'comment', label: 'Comment (optional)' }],
      confirm: 'Skip',
      submit: post('skip'),
    });
  }

  async function fail() {
    await dialog({
      title: 'Fail this run?',
      message: `The run fails on ${node}, and the compensations of its completed nodes run as the workflow says.`,
      fields: [{ name: 'comment', label: 'Comment (optional)' }],
      confirm: 'Fail run',
      danger: true,
      submit: post('fail'),
    });
  }

  return h('div', { class: 'row incident-actions', 'data-run': run, 'data-node': node },
    h('button', { class: 'incident-retry', onclick: retry }, 'Retry…'),
    h('button', { class: 'quiet incident-complete', onclick: complete }, 'Complete by hand…'),
    h('button', { class: 'quiet incident-skip', onclick: skip }, 'Skip…'),
    h('button', { class: 'danger incident-fail', onclick: fail }, 'Fail run…'));
}
