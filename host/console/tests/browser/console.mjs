// The console in a real browser (Debian's Chromium, driven by
// playwright-core) against a real `baton demo`:
// sign in, start line1-startup and watch its graph reach `waiting` live,
// approve from the overview and see the run succeed with its output, engage
// the interlock and see a start refused, check a viewer has no approve
// button and that a forged approve is refused with 403, break a workflow in
// the editor and see the problem on its node, fix and apply it, and check
// that no request left 127.0.0.1. A screenshot of each page is saved.
//
// Environment: BATON_SERVER, BATON_TOKEN (an admin token), SCREENSHOTS (a
// directory), CHROMIUM (default /usr/bin/chromium).

import assert from 'node:assert/strict';
import { suite } from './browser.mjs';

const { server, admin, context, page, close, call, step, shot, signIn, signOut, allPassed } = await suite();

try {
  step('a wrong token is refused on the sign-in page');
  await page.goto(`${server}/`);
  await page.waitForSelector('#token');
  await shot('sign-in');
  await page.fill('#token', 'baton_not_a_token');
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#signin .alert');
  assert.match(await page.textContent('#signin .alert'), /unknown or revoked/);

  step('sign in; the cookie is HttpOnly and SameSite=Strict');
  await signIn(admin);
  const cookies = await context.cookies(server);
  const session = cookies.find((c) => c.name === 'baton_session');
  assert.ok(session, 'the session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session cookie');
  await page.waitForSelector('#health #queue-depth');
  await page.waitForSelector('#health #nodes');
  assert.match(await page.textContent('#health #nodes'), /one node on SQLite/, 'the overview names this node');
  await shot('overview');

  step('start line1-startup from its page; bad JSON is caught before sending');
  await page.goto(`${server}/#/workflows/line1-startup`);
  await page.waitForSelector('#start-input');
  await page.fill('#start-input', '{"batch": ');
  await page.waitForSelector('#start-check .alert');
  assert.equal(await page.isDisabled('#start-run'), true);
  await page.fill('#start-input', '{"batch": "B-42"}');
  assert.equal(await page.isDisabled('#start-run'), false);
  await page.waitForSelector('#graph g.node[data-node="announce"]');
  await shot('workflow');
  await page.click('#start-run');
  await page.waitForURL(/#\/runs\//);
  const runId = decodeURIComponent(page.url().split('#/runs/')[1]);
  step(`run ${runId}: the graph reaches waiting live`);
  await page.waitForSelector('#graph g.node[data-node="read_temp"][data-state="succeeded"]');
  await page.waitForSelector('#graph g.node[data-node="approve"][data-state="waiting"]');
  assert.equal(await page.getAttribute('#graph g.node[data-node="announce"]', 'data-state'), 'pending');
  await page.click('#graph g.node[data-node="read_temp"]');
  await page.waitForSelector('#node-detail tr.attempt.succeeded');
  await shot('run-waiting');

  step('approve from the overview; the run succeeds with its output');
  await page.goto(`${server}/#/`);
  const row = `#approvals tr.approval[data-run="${runId}"][data-node="approve"]`;
  await page.waitForSelector(row);
  await page.fill(`${row} .approval-comment`, 'line clear');
  await shot('overview-waiting');
  await page.click(`${row} button.approve`);
  await page.waitForSelector(row, { state: 'detached' });
  await page.goto(`${server}/#/runs/${encodeURIComponent(runId)}`);
  await page.waitForSelector('#run-status .state.succeeded');
  await page.waitForSelector('#graph g.node[data-node="announce"][data-state="succeeded"]');
  assert.match(await page.textContent('#run-output'), /announce/);
  await page.click('#graph g.node[data-node="approve"]');
  await page.waitForSelector('#node-detail');
  assert.match(await page.textContent('#node-detail'), /line clear/);
  await shot('run-succeeded');
  const audited = await call('GET', '/api/v1/audit?action=run.approve');
  assert.ok(audited.data.entries.some((e) => e.actor === 'demo'), 'the approval is audited with its actor');

  step('engage the interlock from the page; a new start is refused with the reason');
  await page.goto(`${server}/#/`);
  await page.click('#interlock-engage');
  await page.waitForSelector('#interlock-state[data-engaged="true"]');
  await page.waitForSelector('#interlock-badge.engaged');
  await shot('interlock-engaged');
  const stored = await call('GET', '/api/v1/interlock');
  assert.equal(stored.data.engaged, true, 'the server has the interlock engaged');
  await page.goto(`${server}/#/workflows/line1-startup`);
  await page.waitForSelector('#start-run');
  await page.click('#start-run');
  await page.waitForSelector('#start-error');
  assert.match(await page.textContent('#start-error'), /interlock is engaged/);
  await page.goto(`${server}/#/`);
  await page.click('#interlock-release');
  await page.waitForSelector('dialog #dialog-comment');
  await page.click('#dialog-confirm');
  await page.waitForSelector('dialog .alert:not([hidden])'); // the comment is required
  await page.fill('#dialog-comment', 'oven inspected, area clear');
  await page.click('#dialog-confirm');
  await page.waitForSelector('#interlock-state[data-engaged="false"]');
  assert.equal((await call('GET', '/api/v1/interlock')).data.engaged, false);

  step('a viewer sees no approve button, and a forged approve is refused');
  const made = await call('POST', '/api/v1/tokens', { name: 'shift-lead', role: 'viewer' });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  const started = await call('POST', '/api/v1/workflows/line1-startup/runs', { input: {} });
  assert.equal(started.status, 202, JSON.stringify(started.data));
  const waiting = started.data.run_id;
  await signOut();
  await signIn(made.data.token);
  const vrow = `#approvals tr.approval[data-run="${waiting}"]`;
  await page.waitForSelector(vrow, { timeout: 30000 });
  assert.equal(await page.locator(`${vrow} button.approve`).count(), 0);
  assert.equal(await page.locator('#interlock-engage').count(), 0);
  await page.goto(`${server}/#/runs/${encodeURIComponent(waiting)}`);
  await page.waitForSelector('#graph g.node[data-node="approve"][data-state="waiting"]');
  assert.equal(await page.locator('button.approve').count(), 0);
  await shot('run-viewer');
  const forged = await page.evaluate(async (id) => {
    const s = await (await fetch('/api/v1/session')).json();
    const withCsrf = await fetch(`/api/v1/runs/${id}/nodes/approve/approve`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Baton-CSRF': s.csrf }, body: '{}',
    });
    const withoutCsrf = await fetch(`/api/v1/runs/${id}/nodes/approve/approve`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    return [withCsrf.status, (await withCsrf.json()).error.code, withoutCsrf.status, (await withoutCsrf.json()).error.code];
  }, waiting);
  assert.deepEqual(forged, [403, 'forbidden', 403, 'csrf']);
  const still = await call('GET', `/api/v1/runs/${waiting}`);
  assert.equal(still.data.nodes.find((n) => n.id === 'approve').status, 'waiting', 'the forged approve changed nothing');
  await call('POST', `/api/v1/runs/${waiting}/cancel`, { reason: 'test over' });
  await signOut();

  step('the editor marks a problem on its node and line; fixed, it applies');
  await signIn(admin);
  await page.goto(`${server}/#/editor/line1-startup`);
  await page.waitForSelector('#valid');
  const good = await page.inputValue('#yaml');
  assert.match(good, /mqtt-publish@1/);
  await page.fill('#yaml', good.replace('mqtt-publish@1', 'no-such-plugin@1'));
  await page.waitForSelector('#problems li.problem[data-node="announce"]');
  await page.waitForSelector('#graph g.node.problem[data-node="announce"]');
  await page.waitForSelector('.gutter .bad');
  assert.equal(await page.isDisabled('#apply'), true);
  await shot('editor-invalid');
  await page.fill('#yaml', good.replace('description: ', 'description: Edited in the console. '));
  await page.waitForSelector('#valid');
  assert.equal(await page.locator('#graph g.node.problem').count(), 0);
  await page.click('#apply');
  await page.waitForSelector('#applied');
  const after = await call('GET', '/api/v1/workflows/line1-startup');
  assert.ok(after.data.version >= 2, 'a new version was stored');
  assert.match(after.data.definition.description, /Edited in the console/);
  await shot('editor-applied');

  step('the other pages');
  await page.goto(`${server}/#/workflows/line1-startup`);
  await page.waitForSelector('#diff .add');
  await shot('workflow-diff');
  await page.goto(`${server}/#/runs`);
  await page.waitForSelector(`#runs tr[data-run="${runId}"]`);
  await page.selectOption('#filter-status', 'cancelled');
  await page.click('form[role=search] button[type=submit]');
  await page.waitForSelector(`#runs tr[data-run="${waiting}"]`);
  assert.equal(await page.locator(`#runs tr[data-run="${runId}"]`).count(), 0, 'the status filter applies');
  await shot('runs');
  await page.goto(`${server}/#/plugins`);
  await page.waitForSelector('section.plugin[data-plugin="modbus-read"]');
  step('upload a plugin from the page: a broken file is refused with the reason, a component is stored');
  await page.setInputFiles('#plugin-file', { name: 'broken.wasm', mimeType: 'application/wasm', buffer: Buffer.from('not a component') });
  await page.click('#upload button[type=submit]');
  await page.waitForSelector('#upload-verdict .alert');
  assert.match(await page.textContent('#upload-verdict'), /Refused/);
  if (process.env.BATON_TEST_PLUGIN) {
    await page.setInputFiles('#plugin-file', process.env.BATON_TEST_PLUGIN);
    await page.click('#upload button[type=submit]');
    await page.waitForSelector('#upload-verdict .note');
    assert.match(await page.textContent('#upload-verdict'), /Stored scripted/);
    assert.equal(await page.getAttribute('#upload-progress', 'value'), '1');
    await page.waitForSelector('section.plugin[data-plugin="scripted"]');
    const listed = await call('GET', '/api/v1/plugins/scripted');
    assert.equal(listed.status, 200, 'the server has the uploaded plugin');
  }
  await shot('plugins');
  await page.goto(`${server}/#/audit`);
  await page.waitForSelector('#audit tbody tr[data-seq]');
  await shot('audit');
  await page.goto(`${server}/#/tokens`);
  await page.waitForSelector('#tokens tr[data-token]');
  await shot('tokens');

  step('keyboard: a graph node opens with Enter');
  await page.goto(`${server}/#/runs/${encodeURIComponent(runId)}`);
  await page.waitForSelector('#run-status .state.succeeded');
  await page.focus('#graph g.node[data-node="heat"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#node-detail h2 code');
  assert.equal(await page.textContent('#node-detail h2 code'), 'heat');

  step('on a tablet');
  await page.setViewportSize({ width: 800, height: 1280 });
  await page.goto(`${server}/#/`);
  await page.waitForSelector('#interlock-state');
  await shot('overview-tablet');

  allPassed();
} finally {
  await close();
}
