// Chromium as the browser suites start it: Debian's build, run as root here,
// so with the flags that need, and an empty profile of its own; the suites'
// own API client; and what every suite starts and ends with.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

/** A headless Chromium at 1366×768; `close()` also removes its profile. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'baton-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: FLAGS,
  });
  const page = context.pages()[0] || await context.newPage();
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** Sign in on the console's page and wait for the overview. */
export async function signIn(page, server, token) {
  await page.goto(`${server}/`);
  await page.waitForSelector('#token');
  await page.fill('#token', token);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#interlock-state');
}

/**
 * A client of the API at `server` that calls as `token` (or as the token
 * given to the call): `call(method, path, body, token)` answers `{status,
 * data}`. A string body is sent as YAML, a Buffer as a component, anything
 * else as JSON.
 */
export function client(server, token) {
  return async (method, path, body, as = token) => {
    const type = body === undefined ? null
      : typeof body === 'string' ? 'application/yaml'
        : Buffer.isBuffer(body) ? 'application/wasm' : 'application/json';
    const r = await fetch(`${server}${path}`, {
      method,
      headers: { Authorization: `Bearer ${as}`, ...(type ? { 'Content-Type': type } : {}) },
      body: type === 'application/json' ? JSON.stringify(body) : body,
    });
    const text = await r.text();
    let data = null;
    try { data = JSON.parse(text); } catch { data = text; }
    return { status: r.status, data };
  };
}

/**
 * What every suite starts with, from BATON_SERVER, BATON_TOKEN (an admin
 * token) and SCREENSHOTS (a directory): an API client as admin, a browser
 * page that records script errors and any request that leaves the server,
 * `shot(name)`, `signIn(token)` and `signOut()`, and `allPassed()`, the last
 * check: no script error on any page, no request off the machine.
 */
export async function suite() {
  const server = process.env.BATON_SERVER;
  const admin = process.env.BATON_TOKEN;
  const shots = process.env.SCREENSHOTS || join(tmpdir(), 'baton-console-screenshots');
  assert.ok(server && admin, 'BATON_SERVER and BATON_TOKEN must be set');
  mkdirSync(shots, { recursive: true });
  const origin = new URL(server).origin;
  const { context, page, close } = await launch();
  const offsite = [];
  const failures = [];
  context.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('about:')) offsite.push(url);
  });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.log(`browser console: ${m.text()}`); });
  page.setDefaultTimeout(20000);
  return {
    server,
    admin,
    context,
    page,
    close,
    call: client(server, admin),
    step: (name) => console.log(`step: ${name}`),
    shot: (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: false }),
    signIn: (token) => signIn(page, server, token),
    signOut: async () => {
      await page.click('#signout');
      await page.waitForSelector('#token');
    },
    allPassed: () => {
      assert.deepEqual(failures, [], 'no script errors on any page');
      assert.deepEqual(offsite, [], 'no request left the server');
      console.log(`ok: every step passed; screenshots in ${shots}`);
    },
  };
}

/** Call `probe` every 100 ms until it gives something, for at most `ms`. */
export async function until(what, probe, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const found = await probe();
    if (found) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
