// Reference search in the technician page, in both languages, in headless Chromium (issue 16):
// a Chinese question without spaces and an English one with a synonym find their passages,
// and a question asked from the pump P1 (ISO 10816-3 group 2, rigid) ranks P1's passage first.
// Run by tests/web/run.sh (before page.test.mjs, which stops the daemon at its end).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.EDGECITE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const USER = process.env.EDGECITE_USER || 'demo';
const PASS = process.env.EDGECITE_PASSWORD || 'edgecite-demo';
let profileDir, context, page;

before(async () => {
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecite-ask-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'],
    viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN',
  });
  page = context.pages()[0] || (await context.newPage());
  await page.goto(BASE + '/', { waitUntil: 'load' });
  await page.getByTestId('login').waitFor({ state: 'visible', timeout: 10_000 });
  await page.getByTestId('login-user').fill(USER);
  await page.getByTestId('login-pass').fill(PASS);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login').waitFor({ state: 'hidden', timeout: 10_000 });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
});

async function ask(q, asset = '') {
  await page.getByTestId('ask-asset').selectOption(asset);
  await page.getByTestId('ask-q').fill(q);
  const resp = page.waitForResponse((r) => r.url().includes('/api/v1/ask?'));
  await page.getByTestId('ask-go').click();
  const body = await (await resp).json();
  await page.locator('[data-testid="ask-result"], [data-testid="ask-empty"]').first().waitFor({ timeout: 10_000 });
  return body;
}

test('a Chinese question without spaces finds its passage, with marks', async () => {
  const r = await ask('F 级绝缘绕组最高允许温度');
  assert.equal(r.supported, true, JSON.stringify(r));
  assert.equal(r.results[0].passage_id, 'iec60085.thermal-classes');
  const first = page.getByTestId('ask-result').first();
  assert.match(await first.innerText(), /F 级 155/);
  assert.ok((await first.locator('mark').count()) > 0, 'matched terms are marked');
});

test('an English question meets the passage through the glossary (hydrogen = H2)', async () => {
  const r = await ask('IEEE C57.104 95th percentile hydrogen limit');
  assert.equal(r.supported, true, JSON.stringify(r));
  assert.ok(r.results[0].matched.some((m) => m.term === 'hydrogen' && m.via === 'h2'), JSON.stringify(r.results[0].matched));
  assert.match(await page.getByTestId('ask-result').first().innerText(), /95/);
});

test('one character is refused with a hint', async () => {
  const r = await ask('乙');
  assert.equal(r.supported, false);
  assert.match(await page.getByTestId('ask-results').innerText(), /too short/);
});

test('asked from P1 (group 2, rigid) the group 2 rigid passage comes first; without it, "depends on"', async () => {
  let r = await ask('7.1 mm/s, which zone?');
  assert.ok(r.depends_on.some((d) => d.param === 'vibration.group'), JSON.stringify(r.depends_on));
  await page.getByTestId('ask-note').waitFor({ timeout: 10_000 });
  r = await ask('7.1 mm/s, which zone?', 'P1');
  assert.ok(page.url().length > 0);
  assert.equal(r.results[0].passage_id, 'iso10816-3.group2-rigid', JSON.stringify(r.results.map((x) => x.passage_id)));
  assert.equal(r.depends_on.length, 0);
  assert.match(await page.getByTestId('ask-note').innerText(), /group 2|第 2 组/);
});
