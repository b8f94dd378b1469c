// How fast the run page renders a large run: 200 nodes and about 10,000
// events (40 of the nodes fan out over 120 items each). Applies the
// workflow, runs it to the end, then loads its run page five times in
// Chromium and prints the median time from navigation to the last event
// painted. A measurement, not a test: it asserts only that the page shows
// the whole run.
//
//   BATON_SERVER=... BATON_TOKEN=... node large-run.mjs

import assert from 'node:assert/strict';
import { launch, signIn } from './browser.mjs';

const server = process.env.BATON_SERVER;
const token = process.env.BATON_TOKEN;
const layers = 20;
const width = 10;
const items = 120;

async function call(method, path, body, type = 'application/json') {
  const r = await fetch(`${server}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': type },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

let yaml = 'name: large-run\ndescription: 200 nodes, 40 of them over 120 items.\nnodes:\n';
for (let l = 0; l < layers; l += 1) {
  for (let w = 0; w < width; w += 1) {
    yaml += `  n${l}_${w}:\n    plugin: transform@1\n    config: { reshape: { v: "/v" } }\n`;
    if (l > 0) yaml += `    needs: [n${l - 1}_${w}, n${l - 1}_${(w + 1) % width}]\n`;
    if (w % 5 === 0) yaml += '    foreach: "input.items"\n    input: { v: "item" }\n';
    else yaml += '    input: { v: "input.items.size()" }\n';
  }
}
await call('PUT', '/api/v1/workflows/large-run', yaml, 'application/yaml');
const list = Array.from({ length: items }, (_, i) => i);
const run = await call('POST', '/api/v1/workflows/large-run/runs?wait=120', { input: { items: list } });
assert.equal(run.status, 'succeeded', JSON.stringify(run));
// Every stored event, a page (of at most 10,000) at a time.
let all = 0;
for (let after = 0; ;) {
  const page = (await call('GET', `/api/v1/runs/${run.id}/events?after=${after}`)).events;
  all += page.length;
  if (page.length < 10000) break;
  after = page[page.length - 1].seq;
}

const { page, close } = await launch();
try {
  await signIn(page, server, token);
  const times = [];
  for (let i = 0; i < 5; i += 1) {
    await page.goto(`${server}/#/`);
    await page.waitForSelector('#interlock-state');
    const t0 = Date.now();
    await page.goto(`${server}/#/runs/${run.id}`);
    await page.waitForSelector('#run-status .state.succeeded', { timeout: 60000 });
    await page.waitForFunction((n) => document.getElementById('event-count')?.textContent === String(n), all, { timeout: 60000 });
    await page.waitForFunction(() => document.querySelectorAll('#graph g.node[data-state="succeeded"]').length === 200);
    times.push(Date.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`large run: 200 nodes, ${all} events; run page fully painted in ${times.join(', ')} ms; median ${times[2]} ms`);

  // Live: open the page of a run as it starts, and record the main thread's
  // long tasks (over 50 ms) until the run has succeeded on the page.
  await page.goto(`${server}/#/`);
  await page.waitForSelector('#interlock-state');
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longTasks.push(e.duration); })
      .observe({ type: 'longtask', buffered: false });
  });
  const live = await call('POST', '/api/v1/workflows/large-run/runs', { input: { items: list } });
  const t0 = Date.now();
  await page.goto(`${server}/#/runs/${live.run_id}`);
  await page.waitForSelector('#run-status .state.succeeded', { timeout: 120000 });
  const took = Date.now() - t0;
  const long = await page.evaluate(() => window.longTasks);
  long.sort((a, b) => b - a);
  console.log(`live run: ${took} ms from start to succeeded on the page; ${long.length} long tasks, longest ${Math.round(long[0] || 0)} ms, median ${Math.round(long[Math.floor(long.length / 2)] || 0)} ms`);
} finally {
  await close();
}
