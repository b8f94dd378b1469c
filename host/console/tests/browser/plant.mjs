// Equipment locks and sub-workflows in a real browser against a real `baton
// demo`. Two runs of a workflow that locks oven-1: the overview's Locks
// panel shows the first holding it and the second first in its queue; the
// second run's page says what it waits for and who holds it, and follows it
// taking the lock live when the first is approved. A parent whose node
// starts a child run: its page links to the child, the child's page links
// back, and the parent's page follows it succeeding when the child is
// approved. A screenshot of each step is saved.
//
// Environment: BATON_SERVER, BATON_TOKEN (an admin token), SCREENSHOTS (a
// directory), CHROMIUM (default /usr/bin/chromium).

import assert from 'node:assert/strict';
import { suite, until } from './browser.mjs';

const { server, admin, page, close, call, step, shot, signIn, allPassed } = await suite();

// Unique names, so the script can run again against the same server.
const stamp = Date.now();
const BAKE = `bake-${stamp}`;
const CURE = `cure-${stamp}`;
const LINE = `line-${stamp}`;

async function apply(name, yaml) {
  const r = await call('PUT', `/api/v1/workflows/${name}`, yaml);
  assert.equal(r.status, 201, JSON.stringify(r.data));
}

async function start(workflow) {
  const r = await call('POST', `/api/v1/workflows/${workflow}/runs`, { input: {} });
  assert.equal(r.status, 202, JSON.stringify(r.data));
  return r.data.run_id;
}

async function approve(run, node) {
  const r = await call('POST', `/api/v1/runs/${run}/nodes/${node}/approve`, { comment: 'checked' });
  assert.equal(r.status, 200, JSON.stringify(r.data));
}

const oven = async () => ((await call('GET', '/api/v1/locks')).data.locks || []).find((l) => l.key === 'oven-1');
const finished = (run) => until(`run ${run} to finish`, async () => {
  const r = await call('GET', `/api/v1/runs/${run}?nodes=false`);
  return !['running', 'held'].includes(r.data.status) && r.data;
});


try {
  step('two runs of a workflow that locks oven-1: the first holds it, the second queues');
  await apply(BAKE, `name: ${BAKE}
description: One recipe at a time on oven 1; an operator signs the load off.
locks: ["oven-1"]
nodes:
  load:
    type: approval
`);
  const first = await start(BAKE);
  await until('the first run to hold oven-1', async () => ((await oven()) || { holders: [] }).holders.some((w) => w.run_id === first));
  const second = await start(BAKE);
  await until('the second run to queue for oven-1', async () => ((await oven()) || { queue: [] }).queue.some((w) => w.run_id === second));

  step('the overview\'s Locks panel: the first holds oven-1, the second is #1 in its queue');
  await signIn(admin);
  const lock = '#locks tr.lock[data-lock="oven-1"]';
  await page.waitForSelector(`${lock} .lock-holders .lock-holder[data-run="${first}"]`);
  await page.waitForSelector(`${lock} .lock-queue .lock-queued[data-run="${second}"][data-place="1"]`);
  assert.match(await page.textContent(`${lock} .lock-holder[data-run="${first}"]`), new RegExp(`${BAKE}.*the whole run`));
  assert.match(await page.textContent(`${lock} .lock-queued[data-run="${second}"]`), new RegExp(`#1 ${BAKE}`));
  assert.match(await page.textContent('#locks h2'), /Locks \(1 in use\)/);
  await shot('overview-locks');

  step('the second run\'s page says it waits for oven-1, and who holds it');
  await page.click(`${lock} .lock-queued[data-run="${second}"] a`);
  await page.waitForURL(new RegExp(`#/runs/${second}`));
  await page.waitForSelector('#lock-wait.lock-banner li[data-lock="oven-1"]');
  const waiting = await page.textContent('#lock-wait');
  assert.match(waiting, /The run waits for its locks/);
  assert.match(waiting, /oven-1: #1 in the queue/);
  await page.waitForSelector(`#lock-wait .lock-holder[data-run="${first}"]`);
  assert.match(await page.textContent('#run-locks'), /waiting for oven-1/);
  await page.waitForSelector('#graph g.node[data-node="load"][data-state="pending"]');
  await page.waitForFunction(() => document.getElementById('live').textContent.startsWith('live'));
  await shot('run-lock-wait');
  await page.evaluate(() => { window.batonUnreloaded = true; });

  step('the first run is approved: the second takes the lock, followed live');
  await approve(first, 'load');
  await page.waitForSelector('#lock-wait', { state: 'hidden' });
  await page.waitForSelector('#graph g.node[data-node="load"][data-state="waiting"]');
  assert.match(await page.textContent('#run-locks'), /holds oven-1/);
  assert.equal(await page.evaluate(() => window.batonUnreloaded), true, 'followed live, not reloaded');
  await page.waitForSelector('#run-actions button.approve[data-node="load"]');
  await shot('run-lock-acquired');
  assert.equal((await finished(first)).status, 'succeeded');
  const now = await oven();
  assert.deepEqual([now.holders.map((w) => w.run_id), now.queue], [[second], []], 'the second holds oven-1 and nobody waits');

  step('the overview shows the new holder, then no lock in use');
  await page.goto(`${server}/#/`);
  await page.waitForSelector(`${lock} .lock-holder[data-run="${second}"]`);
  assert.equal(await page.locator(`${lock} .lock-queued`).count(), 0, 'nobody waits');
  await approve(second, 'load');
  await page.waitForSelector('#locks.idle #locks-none');
  assert.match(await page.textContent('#locks'), /No equipment lock is held or waited for/);
  assert.equal(await page.locator('#locks table').count(), 0, 'no table when no lock is in use');

  step('a parent run whose node starts a child: its page links to the child');
  await apply(CURE, `name: ${CURE}
description: Cure a batch; the quality lead signs it off.
nodes:
  sign:
    type: approval
`);
  await apply(LINE, `name: ${LINE}
description: Run a batch down the line; the cure is its own workflow.
nodes:
  cure:
    type: workflow
    workflow: ${CURE}
`);
  const parent = await start(LINE);
  const child = await until('the child run to start', async () => {
    const r = await call('GET', `/api/v1/runs/${parent}`);
    return (r.data.children || [])[0];
  });
  assert.equal(child.node, 'cure');
  await page.goto(`${server}/#/runs/${encodeURIComponent(parent)}`);
  await page.waitForSelector(`#run-children tr.child[data-run="${child.id}"][data-node="cure"] .state.running`);
  await page.click('#graph g.node[data-node="cure"]');
  await page.waitForSelector(`#node-children .child[data-run="${child.id}"] a.child-link`);
  assert.match(await page.textContent('#node-detail'), new RegExp(`Starts${CURE}, its newest version`));
  await shot('run-children');

  step('the child\'s page links back to its parent and node');
  await page.click(`#node-children .child[data-run="${child.id}"] a.child-link`);
  await page.waitForURL(new RegExp(`#/runs/${child.id}$`));
  await page.waitForSelector('#graph g.node[data-node="sign"][data-state="waiting"]');
  await page.waitForSelector(`#run-parent a.parent-link[href="#/runs/${parent}?node=cure"]`);
  await page.waitForSelector(`#run-parent a.parent-link:has-text("${LINE} v1")`);
  assert.match(await page.textContent('#run-parent'), new RegExp(`Node cure of ${LINE} v1${parent}`));
  await shot('run-child');

  step('back on the parent, the child is approved: the parent succeeds, followed live');
  await page.click('#run-parent a.parent-link');
  await page.waitForURL(new RegExp(`#/runs/${parent}\\?node=cure`));
  await page.waitForSelector(`#node-children .child[data-run="${child.id}"] .state.running`);
  await page.waitForFunction(() => document.getElementById('live').textContent.startsWith('live'));
  await page.evaluate(() => { window.batonUnreloaded = true; });
  await approve(child.id, 'sign');
  await page.waitForSelector('#run-status .state.succeeded');
  await page.waitForSelector('#graph g.node[data-node="cure"][data-state="succeeded"]');
  await page.waitForSelector(`#run-children tr.child[data-run="${child.id}"] .state.succeeded`);
  await page.waitForSelector(`#node-children .child[data-run="${child.id}"] .state.succeeded`);
  assert.equal(await page.evaluate(() => window.batonUnreloaded), true, 'followed live, not reloaded');
  const done = await finished(parent);
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  await shot('run-parent-succeeded');

  allPassed();
} finally {
  await close();
}
