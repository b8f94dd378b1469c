// Baton against Node-RED 4, side by side on the same machine, in one run:
// an HTTP-triggered chain of 40 steps that answers when the chain ends,
// driven by wrk at 1 and 16 connections.
//
// - Node-RED: http-in, 40 function nodes, http-response. In memory: no
//   durability, no sandbox.
// - Baton: `POST /api/v1/workflows/chain40/runs?wait=30`, each step a
//   `transform@1` node (a WebAssembly sandbox per step), durable on SQLite
//   with `synchronous = FULL`, in a directory on the real disk.
//
// Both reshape the same JSON at every step: `{v: <previous v>}`.
//
//   cd bench/node-red && npm ci && node compare.mjs [--seconds 10] [--rounds 3] [--connections 1,16]
//
// The machine is noisy, and its speed drifts within a minute. So each cell is
// measured in `--rounds` rounds, Node-RED and Baton one after the other in
// each, and the table gives the medians: of the runs/s and latencies, and of
// the per-round ratios, each taken from two measurements seconds apart.
//
// Needs wrk (`apt-get install wrk`) and builds the release `baton` binary
// (`cargo build --release -p baton-cli`) unless BATON_BIN names one.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const STEPS = 40;
const TOKEN = 'baton_node_red_comparison_token';

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

// A whole number of at least 1, or a clear error naming the option.
function count(name, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) fail(`${name} takes whole numbers of at least 1, not ${JSON.stringify(text)}`);
  return n;
}
// `--name value` pairs; an unknown option or one without a value stops the
// script rather than being ignored for its default.
const options = { '--seconds': '10', '--rounds': '3', '--connections': '1,16' };
const given = process.argv.slice(2);
for (let i = 0; i < given.length; i += 2) {
  const name = given[i];
  if (!Object.hasOwn(options, name)) fail(`unknown option ${JSON.stringify(name)}; the options are ${Object.keys(options).join(', ')}`);
  if (given[i + 1] === undefined) fail(`${name} needs a value`);
  options[name] = given[i + 1];
}
const seconds = count('--seconds', options['--seconds']);
const rounds = count('--rounds', options['--rounds']);
const connections = options['--connections'].split(',').map((c) => count('--connections', c));

if (spawnSync('wrk', ['--version']).error) fail('wrk is not installed (apt-get install wrk)');
const require = createRequire(import.meta.url);
let nodeRedMain;
try {
  nodeRedMain = require.resolve('node-red/red.js');
} catch {
  fail('node-red is not installed here (cd bench/node-red && npm ci)');
}
const nodeRedVersion = require('node-red/package.json').version;

const work = join(root, 'target', 'bench-node-red');
mkdirSync(work, { recursive: true });
const scratch = mkdtempSync(join(work, 'run-'));
const children = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

// --- Node-RED: http-in -> 40 functions -> http-response.
function nodeRedFlow() {
  const tab = { id: 'tab', type: 'tab', label: 'chain40' };
  const nodes = [tab];
  const ids = Array.from({ length: STEPS }, (_, i) => `f${i}`);
  nodes.push({ id: 'in', type: 'http in', z: 'tab', url: '/chain40', method: 'post', wires: [[ids[0]]] });
  ids.forEach((id, i) => {
    nodes.push({
      id, type: 'function', z: 'tab', name: `s${i}`,
      func: i === 0 ? 'msg.payload = { v: msg.payload.value }; return msg;' : 'msg.payload = { v: msg.payload.v }; return msg;',
      outputs: 1, wires: [[i + 1 < STEPS ? ids[i + 1] : 'out']],
    });
  });
  nodes.push({ id: 'out', type: 'http response', z: 'tab', statusCode: '200', wires: [] });
  return nodes;
}

async function startNodeRed() {
  const userDir = join(scratch, 'node-red');
  mkdirSync(userDir, { recursive: true });
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(nodeRedFlow()));
  const port = 18800 + Math.floor(Math.random() * 1000);
  writeFileSync(join(userDir, 'settings.js'), `module.exports = {
    uiPort: ${port}, uiHost: '127.0.0.1', flowFile: 'flows.json', userDir: ${JSON.stringify(userDir)},
    httpAdminRoot: false, disableEditor: true, credentialSecret: false,
    logging: { console: { level: 'warn', metrics: false, audit: false } },
  };`);
  const child = spawn(process.execPath, [nodeRedMain, '--settings', join(userDir, 'settings.js'), '--userDir', userDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stdout.resume();
  child.stderr.resume();
  const url = `http://127.0.0.1:${port}/chain40`;
  await until(async () => (await post(url, { value: 1 })).status === 200, 'Node-RED did not start');
  return url;
}

// --- Baton: baton serve with a 40-step transform chain.
function batonWorkflow() {
  let yaml = 'name: chain40\nnodes:\n  s0: { plugin: transform@1, config: { reshape: { v: /value } } }\n';
  for (let i = 1; i < STEPS; i++) {
    yaml += `  s${i}: { needs: [s${i - 1}], plugin: transform@1, input: "nodes.s${i - 1}.output", config: { reshape: { v: /v } } }\n`;
  }
  return yaml;
}

function batonBinary() {
  if (process.env.BATON_BIN) return process.env.BATON_BIN;
  const built = spawnSync('cargo', ['build', '--release', '-p', 'baton-cli'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) fail('cargo build --release -p baton-cli failed');
  return join(root, 'target', 'release', 'baton');
}

async function startBaton() {
  const data = join(scratch, 'baton');
  mkdirSync(data, { recursive: true });
  const env = { ...process.env, BATON_ADMIN_TOKEN: TOKEN, BATON_LOG__LEVEL: 'warn' };
  delete env.BATON_CONFIG;
  delete env.BATON_DATABASE_URL;
  const child = spawn(batonBinary(), ['serve', '--listen', '127.0.0.1:0', '--data-dir', data], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const address = await new Promise((ok, no) => {
    let seen = '';
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      const m = seen.match(/baton listening on (http:\/\/\S+)/);
      if (m) ok(m[1]);
    });
    child.on('exit', (code) => no(new Error(`baton serve exited (${code}): ${seen}`)));
  });
  child.stderr.resume();
  const put = await fetch(`${address}/api/v1/workflows/chain40`, {
    method: 'PUT', body: batonWorkflow(), headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
  });
  if (put.status !== 201) fail(`applying the workflow: ${put.status} ${await put.text()}`);
  const url = `${address}/api/v1/workflows/chain40/runs?wait=30`;
  const first = await post(url, { input: { value: 1 } }, { authorization: `Bearer ${TOKEN}` });
  if (first.status !== 200 || first.body?.output?.[`s${STEPS - 1}`]?.v !== 1) {
    fail(`Baton's chain did not finish as expected: ${first.status} ${JSON.stringify(first.body)}`);
  }
  return url;
}

async function post(url, body, headers = {}) {
  try {
    const r = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
    const text = await r.text();
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: parsed };
  } catch {
    return { status: 0, body: null };
  }
}

async function until(check, message) {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(message);
}

// --- wrk
function wrk(url, body, headers, conns, secs) {
  const lua = join(scratch, `post-${conns}.lua`);
  const lines = [
    'wrk.method = "POST"',
    `wrk.body = ${JSON.stringify(JSON.stringify(body))}`,
    'wrk.headers["Content-Type"] = "application/json"',
    ...Object.entries(headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
  ];
  writeFileSync(lua, lines.join('\n') + '\n');
  const threads = Math.min(conns, 2);
  const r = spawnSync('wrk', ['-t', String(threads), '-c', String(conns), '-d', `${secs}s`, '--latency', '--timeout', '30s', '-s', lua, url], { encoding: 'utf8' });
  if (r.status !== 0) fail(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
  const pct = (p) => out.match(new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`));
  const ms = (m) => (m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]] : NaN);
  const bad = out.match(/Non-2xx or 3xx responses:\s+(\d+)/);
  if (bad) fail(`${bad[1]} requests were not answered 200 by ${url}:\n${out}`);
  // Connections refused, reset or timed out are not in the count above.
  const lost = out.match(/Socket errors:[^\n]*/);
  if (lost) fail(`requests to ${url} went unanswered (${lost[0]}):\n${out}`);
  return { rps, p50: ms(pct(50)), p99: ms(pct(99)) };
}

const nodeRedUrl = await startNodeRed();
const batonUrl = await startBaton();
const auth = { Authorization: `Bearer ${TOKEN}` };
// Warm up both: JIT, compiled plugins, the SQLite file.
wrk(nodeRedUrl, { value: 1 }, {}, 4, 2);
wrk(batonUrl, { input: { value: 1 } }, auth, 4, 2);

console.log(`\nA ${STEPS}-step chain over HTTP, answering when the chain ends; wrk, ${seconds} s per cell, ${rounds} rounds, medians.`);
console.log(`Node-RED ${nodeRedVersion}: in memory, no durability, no sandbox.`);
console.log('Baton: every step a WebAssembly sandbox; runs durable on SQLite (synchronous = FULL).\n');
console.log('| connections | Node-RED runs/s | Node-RED p50 / p99 | Baton runs/s | Baton p50 / p99 | Baton ÷ Node-RED: median (each round) |');
console.log('|---:|---:|---:|---:|---:|---:|');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f = (x) => x.toFixed(x < 10 ? 2 : 1);
const m = (xs, k) => median(xs.map((x) => x[k]));
for (const c of connections) {
  const ns = [];
  const bs = [];
  for (let r = 0; r < rounds; r++) {
    ns.push(wrk(nodeRedUrl, { value: 1 }, {}, c, seconds));
    bs.push(wrk(batonUrl, { input: { value: 1 } }, auth, c, seconds));
  }
  const ratios = bs.map((b, i) => b.rps / ns[i].rps);
  console.log(`| ${c} | ${m(ns, 'rps').toFixed(0)} | ${f(m(ns, 'p50'))} / ${f(m(ns, 'p99'))} ms | ${m(bs, 'rps').toFixed(0)} | ${f(m(bs, 'p50'))} / ${f(m(bs, 'p99'))} ms | ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(2)).join(', ')}) |`);
}
process.exit(0);
