// Incidents in a real browser against a real `baton demo`: a workflow held
// on a PLC write its grant denies shows on the overview with its batch key;
// on the run page a retry with a config the plugin refuses names the field,
// and a retry with the corrected address lets the run succeed, followed
// live; a second run is completed by hand from the overview; a viewer sees
// the incident but no action; a third run is failed from the run page; the
// runs list finds a batch by its key. A screenshot of each step is saved.
//
// Environment: BATON_SERVER, BATON_TOKEN (an admin token), SCREENSHOTS (a
// directory), BATON_TEST_PLUGIN (the `scripted` component, optional),
// CHROMIUM (default /usr/bin/chromium).

import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { suite, until } from './browser.mjs';

const { server, admin, page, close, call, step, shot, signIn, signOut, allPassed } = await suite();

// The setpoint's grant covers holding:20 and the config writes 21: denied,
// which no retry can fix, so the run is held on `setpoint`. `record` echoes
// what `setpoint` gave, so a hand-made output is seen to flow on.
const WORKFLOW = 'oven-setpoint';
const recorded = Boolean(process.env.BATON_TEST_PLUGIN);
const yaml = `name: ${WORKFLOW}
description: Read oven 1, then write its setpoint; held for an operator if that fails.
on_failure: hold
key: "input.batch"
deadline: 1h
nodes:
  read_temp:
    plugin: modbus-read@1
    config: { device: oven-1, kind: holding, address: 10, count: 1 }
    grants: { plc: [{ device: oven-1, read: ["holding:10"] }] }
  setpoint:
    needs: [read_temp]
    plugin: modbus-write@1
    config: { device: oven-1, kind: holding, address: 21, values: [180] }
    grants: { plc: [{ device: oven-1, write: ["holding:20"] }] }
${recorded ? `  record:
    needs: [setpoint]
    plugin: scripted@1
    input: "nodes.setpoint.output"
` : ''}`;

async function start(batch) {
  const r = await call('POST', `/api/v1/workflows/${WORKFLOW}/runs`, { input: { batch } });
  assert.equal(r.status, 202, JSON.stringify(r.data));
  return r.data.run_id;
}

const held = (run) => until(`run ${run} to be held`, async () => {
  const r = await call('GET', `/api/v1/runs/${run}?nodes=false`);
  return r.data.status === 'held' && r.data;
});

try {
  step('the workflow is applied (with the scripted plugin, if given)');
  if (recorded && (await call('GET', '/api/v1/plugins/scripted')).status !== 200) {
    const up = await call('POST', '/api/v1/plugins', readFileSync(process.env.BATON_TEST_PLUGIN));
    assert.ok([200, 201].includes(up.status), JSON.stringify(up.data));
  }
  const applied = await call('PUT', `/api/v1/workflows/${WORKFLOW}`, yaml);
  assert.equal(applied.status, 201, JSON.stringify(applied.data));

  step('a held run shows on the overview with its key, node and error');
  const first = await start('B-7');
  await held(first);
  await signIn(admin);
  const row = (run) => `#incidents tr.incident[data-run="${run}"][data-node="setpoint"]`;
  await page.waitForSelector(row(first));
  const text = await page.textContent(row(first));
  assert.match(text, /B-7/, 'the batch key is shown');
  assert.match(text, new RegExp(WORKFLOW));
  assert.match(await page.textContent(`${row(first)} .incident-error`), /holding:21|denied|grant/i, 'the error is shown');
  assert.equal(await page.locator(`${row(first)} button.incident-retry`).count(), 1, 'an operator has the actions');
  await shot('overview-incident');

  step('the run page marks the run held and the node with its incident');
  await page.click(`${row(first)} a[href*="node=setpoint"] >> nth=0`);
  await page.waitForURL(/#\/runs\//);
  await page.waitForSelector('#run-status .state.held');
  await page.waitForSelector('#held.held-banner');
  await page.waitForSelector('#graph.held g.node[data-node="setpoint"][data-state="failed"].incident');
  await page.waitForSelector('#graph g.node[data-node="read_temp"][data-state="succeeded"]');
  assert.equal(await page.textContent('#run-key'), 'B-7');
  assert.match(await page.textContent('#run-deadline'), /1h from the start/);
  assert.match(await page.textContent('#incident-error'), /holding:21|denied|grant/i);
  await page.waitForFunction(() => document.getElementById('live').textContent.startsWith('live'));
  await shot('run-held');
  // Marked, to tell afterwards that the page was never reloaded.
  await page.evaluate(() => { window.batonUnreloaded = true; });

  step('retry: JSON is checked as typed, and a config the plugin refuses names its field');
  await page.click('#incident button.incident-retry');
  await page.waitForSelector('dialog #dialog-config');
  const config = JSON.parse(await page.inputValue('#dialog-config'));
  assert.deepEqual(config, { device: 'oven-1', kind: 'holding', address: 21, values: [180] }, 'prefilled with the node\'s config');
  await page.fill('#dialog-config', '{"device": ');
  await page.waitForSelector('#dialog-error:not([hidden])');
  assert.match(await page.textContent('#dialog-error'), /not JSON/);
  assert.equal(await page.isDisabled('#dialog-confirm'), true);
  await page.fill('#dialog-config', JSON.stringify({ ...config, kind: 'banana' }, null, 2));
  assert.equal(await page.isDisabled('#dialog-confirm'), false);
  await page.click('#dialog-confirm');
  await page.waitForSelector('#dialog-config[aria-invalid="true"]');
  const refused = await page.textContent('#dialog-error');
  assert.match(refused, /config\.kind|kind/, `the problem names the field: ${refused}`);
  await shot('run-retry-refused');
  const still = await call('GET', `/api/v1/runs/${first}?nodes=false`);
  assert.equal(still.data.status, 'held', 'a refused retry changed nothing');

  step('retry with the corrected address: the run succeeds, followed live');
  await page.fill('#dialog-config', JSON.stringify({ ...config, address: 20 }, null, 2));
  await page.fill('#dialog-comment', 'address typo');
  await page.click('#dialog-confirm');
  await page.waitForSelector('dialog', { state: 'detached' });
  await page.waitForSelector('#run-status .state.succeeded');
  await page.waitForSelector('#graph g.node[data-node="setpoint"][data-state="succeeded"]');
  assert.equal(await page.locator('#graph g.node.incident').count(), 0);
  assert.equal(await page.locator('#held:not([hidden])').count(), 0, 'no longer marked held');
  assert.equal(await page.evaluate(() => window.batonUnreloaded), true, 'followed live, not reloaded');
  await page.click('#graph g.node[data-node="setpoint"]');
  await page.waitForSelector('#node-detail li.resolution[data-action="retry"]');
  assert.match(await page.textContent('#node-detail li.resolution'), /Retried by demo.*address typo/);
  assert.match(await page.textContent('#node-detail .node-config'), /"address": 20/, 'the node shows the config it ran with');
  await shot('run-retried');
  const events = (await call('GET', `/api/v1/runs/${first}/events`)).data.events;
  const resolved = events.find((e) => e.kind === 'incident_resolved');
  assert.equal(resolved.data.action, 'retry');
  assert.equal(resolved.data.config.address, 20, 'the corrected config was sent');
  assert.equal(resolved.data.input, undefined, 'no input was sent');

  step('a second run is completed by hand from the overview, with output and comment');
  const second = await start('B-8');
  await held(second);
  await page.goto(`${server}/#/`);
  await page.waitForSelector(row(second));
  await page.click(`${row(second)} button.incident-complete`);
  await page.waitForSelector('dialog #dialog-output');
  await page.click('#dialog-confirm');
  await page.waitForSelector('#dialog-error:not([hidden])');
  assert.match(await page.textContent('#dialog-error'), /required/, 'the output is required');
  await page.fill('#dialog-output', '{"written": "on the panel"}');
  await page.click('#dialog-confirm');
  await page.waitForSelector('#dialog-comment[aria-invalid="true"]');
  assert.match(await page.textContent('#dialog-error'), /comment is required/);
  await page.fill('#dialog-comment', "set on the oven's panel");
  await shot('overview-complete');
  await page.click('#dialog-confirm');
  await page.waitForSelector('dialog', { state: 'detached' });
  await page.waitForSelector(row(second), { state: 'detached' });
  const done = await until(`run ${second} to finish`, async () => {
    const r = await call('GET', `/api/v1/runs/${second}`);
    return r.data.status !== 'held' && r.data.status !== 'running' && r.data;
  });
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
  if (recorded) assert.deepEqual(done.output.record.input, { written: 'on the panel' }, 'the output flowed on');
  await page.goto(`${server}/#/runs/${encodeURIComponent(second)}?node=setpoint`);
  await page.waitForSelector('#run-status .state.succeeded');
  await page.waitForSelector('#node-detail li.resolution[data-action="complete"]');
  assert.match(await page.textContent('#node-detail li.resolution'), /Completed by hand by demo.*oven's panel/);
  assert.match(await page.textContent('#node-detail .node-output'), /on the panel/);

  step('a viewer sees the incident, and no action');
  const third = await start('B-9');
  await held(third);
  const made = await call('POST', '/api/v1/tokens', { name: 'night-shift', role: 'viewer' });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  await signOut();
  await signIn(made.data.token);
  await page.waitForSelector(row(third));
  assert.equal(await page.locator('#incidents button').count(), 0, 'no action buttons on the overview');
  assert.match(await page.textContent(`${row(third)} .incident-error`), /holding:21|denied|grant/i);
  await page.click(`${row(third)} a.repair`);
  await page.waitForSelector('#run-status .state.held');
  await page.waitForSelector('#incident #incident-error');
  assert.equal(await page.locator('#incident button, #run-actions button').count(), 0, 'no action buttons on the run page');
  await shot('run-held-viewer');
  const forged = await page.evaluate(async (id) => {
    const s = await (await fetch('/api/v1/session')).json();
    const r = await fetch(`/api/v1/runs/${id}/nodes/setpoint/skip`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Baton-CSRF': s.csrf }, body: '{}',
    });
    return [r.status, (await r.json()).error.code];
  }, third);
  assert.deepEqual(forged, [403, 'forbidden'], 'a viewer cannot act on an incident');
  await signOut();

  step('the third run is failed from its page, after a confirmation');
  await signIn(admin);
  await page.goto(`${server}/#/runs/${encodeURIComponent(third)}`);
  await page.waitForSelector('#incident button.incident-fail');
  await page.click('#incident button.incident-fail');
  await page.waitForSelector('dialog #dialog-comment');
  await page.click('#dialog-cancel');
  await page.waitForSelector('dialog', { state: 'detached' });
  assert.equal((await call('GET', `/api/v1/runs/${third}?nodes=false`)).data.status, 'held', 'cancelling the dialog does nothing');
  await page.click('#incident button.incident-fail');
  await page.fill('#dialog-comment', 'batch scrapped');
  await page.click('#dialog-confirm');
  await page.waitForSelector('#run-status .state.failed');
  assert.match(await page.textContent('#run-error'), /batch scrapped/);

  step('the runs list: held in the status filter, the key column, a key filter');
  await page.goto(`${server}/#/runs`);
  await page.waitForSelector(`#runs tr[data-run="${first}"]`);
  assert.ok((await page.locator('#filter-status option[value="held"]').count()) === 1, 'held is a status to filter by');
  assert.equal(await page.textContent(`#runs tr[data-run="${first}"] td.run-key`), 'B-7');
  await page.fill('#filter-key', 'B-8');
  await page.click('form[role=search] button[type=submit]');
  await page.waitForURL(/key=B-8/);
  // The unfiltered list also shows the second run, so wait for the first to go.
  await page.waitForSelector(`#runs tr[data-run="${first}"]`, { state: 'detached' });
  await page.waitForSelector(`#runs tr[data-run="${second}"]`);
  assert.equal(await page.locator(`#runs tr[data-run="${first}"]`).count(), 0, 'the key filter applies');
  await shot('runs-key');

  allPassed();
} finally {
  await close();
}
