// Chromium as the browser suites start it: Debian's build, run as root here,
// so with the flags that need, and an empty profile of its own; and the
// suites' own API client.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
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
