// The demo pump's baseline on the technician page (issue 22): the asset card shows its state,
// learning with its progress first, then ready with what it learned from. Run by
// tests/web/run.sh against the demo daemon (EDGECITE_URL), before page.test.mjs stops it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.EDGECITE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
let profileDir, context, page;

before(async () => {
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecite-chromium-bl-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'],
    viewport: { width: 390, height: 844 }, locale: 'en-US',
  });
  page = context.pages()[0] || (await context.newPage());
  await page.goto(BASE + '/', { waitUntil: 'load' });
  await page.getByTestId('login').waitFor({ state: 'visible', timeout: 20_000 });
  await page.getByTestId('login-user').fill(process.env.EDGECITE_USER || 'demo');
  await page.getByTestId('login-pass').fill(process.env.EDGECITE_PASSWORD || 'edgecite-demo');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login').waitFor({ state: 'hidden', timeout: 20_000 });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
});

test('the pump card shows its baseline: ready, with the time range and samples it learned from', async () => {
  const line = page.locator('[data-testid="asset"][data-asset="P1"] [data-testid="baseline"][data-baseline="skid"]');
  await line.waitFor({ state: 'attached', timeout: 60_000 });
  const first = await line.getAttribute('data-state');
  assert.ok(['learning', 'ready'].includes(first), first);
  await page.waitForFunction(() => {
    const e = document.querySelector('[data-asset="P1"] [data-testid="baseline"][data-baseline="skid"]');
    return e && e.dataset.state === 'ready';
  }, null, { timeout: 90_000, polling: 500 });
  const text = await line.textContent();
  assert.match(text, /Baseline skid: ready · .+ – .+ · 30 samples/, text);
  // The API agrees with the page.
  const api = await page.evaluate(async () => (await fetch('/api/v1/baselines?asset=P1')).json());
  assert.equal(api[0].state, 'ready');
  assert.equal(api[0].samples, 30);
});
