// Benchmark of the field app (issue 14), not a test: prints numbers, asserts nothing.
// Run through `tests/web/run.sh --bench` (it starts the demo daemon and sets EDGECITE_URL).
//   1. login to first finding on screen at 400 kbit/s, 400 ms RTT (CDP throttling), 3 runs;
//   2. idle traffic of the logged-in page over 60 s (every byte on the wire, both ways,
//      counted at a TCP relay in front of the gateway);
//   3. Lighthouse (mobile, default simulated throttling) on the logged-in page.
import { chromium } from '../node_modules/playwright-core/index.mjs';
import lighthouse from 'lighthouse';
import * as chromeLauncher from 'chrome-launcher';
import net from 'node:net';

const BASE = (process.env.EDGECITE_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
const CHROME = process.env.CHROME_PATH || process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const USER = process.env.EDGECITE_USER || 'demo';
const PASS = process.env.EDGECITE_PASSWORD || 'edgecite-demo';
const IDLE_S = Number(process.env.IDLE_S || 60);
// PARTS: which measurements (default all): login,idle,lighthouse.
const PARTS = new Set((process.env.PARTS || 'login,idle,lighthouse').split(','));
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' };

async function login(page) {
  await page.getByTestId('login-user').fill(USER);
  await page.getByTestId('login-pass').fill(PASS);
  await page.getByTestId('login-submit').click();
}

const browser = await chromium.launch({ executablePath: CHROME, headless: true, args: ARGS });
// Wait until the demo has findings (a fresh daemon needs a few evaluation passes).
{
  const ctx = await browser.newContext(PHONE); const p = await ctx.newPage();
  await p.goto(BASE + '/'); await login(p);
  await p.getByTestId('finding').first().waitFor({ timeout: 120_000 });
  await ctx.close();
}

// 1. Login to first finding, throttled.
const times = [];
for (let i = 0; i < (PARTS.has('login') ? 3 : 0); i++) {
  const ctx = await browser.newContext(PHONE);
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 400, downloadThroughput: 400_000 / 8, uploadThroughput: 400_000 / 8 });
  await page.goto(BASE + '/', { waitUntil: 'load' });
  await page.getByTestId('login-user').waitFor();
  const t0 = Date.now();
  await login(page);
  await page.getByTestId('finding').first().waitFor({ timeout: 60_000 });
  times.push(Date.now() - t0);
  await ctx.close();
}
times.sort((a, b) => a - b);
if (times.length) console.log(`login to first finding at 400 kbit/s, 400 ms RTT: median ${(times[1] / 1000).toFixed(2)} s (runs: ${times.map((t) => (t / 1000).toFixed(2)).join(', ')} s)`);

// 2. Idle traffic of the logged-in page, counted at a TCP relay between Chromium and the
// gateway: every byte on the wire both ways (headers, bodies, the live stream, the service
// worker's own requests), which the page's own view of the network would miss.
if (PARTS.has('idle')) {
  const target = new URL(BASE);
  let down = 0, up = 0, counting = false;
  const lines = {};
  const relay = net.createServer((c) => {
    const s = net.connect(Number(target.port), target.hostname);
    c.on('data', (b) => {
      if (counting) {
        up += b.length;
        // Request lines, for the breakdown (a request's first bytes start a chunk).
        const m = /^(GET|POST|PUT|DELETE|HEAD) ([^ ?]+)/.exec(b.subarray(0, 200).toString('latin1'));
        if (m) lines[m[2]] = (lines[m[2]] || 0) + 1;
      }
      s.write(b);
    });
    s.on('data', (b) => { if (counting) down += b.length; c.write(b); });
    const end = () => { c.destroy(); s.destroy(); };
    c.on('error', end); s.on('error', end); c.on('close', end); s.on('close', end);
  });
  await new Promise((r) => relay.listen(0, '127.0.0.1', r));
  const via = `http://127.0.0.1:${relay.address().port}`;
  const ctx = await browser.newContext(PHONE);
  const page = await ctx.newPage();
  await page.goto(via + '/', { waitUntil: 'load' });
  await login(page);
  await page.getByTestId('finding').first().waitFor({ timeout: 60_000 });
  await page.waitForTimeout(15_000); // settle: first loads, trends, the stream's first event
  counting = true;
  await page.waitForTimeout(IDLE_S * 1000);
  counting = false;
  const kbps = ((down + up) * 8) / 1000 / IDLE_S;
  console.log(`idle traffic over ${IDLE_S} s: ${kbps.toFixed(2)} kbit/s (${down} B down, ${up} B up, counted at a TCP relay; requests: ${JSON.stringify(lines)})`);
  await ctx.close();
  relay.close();
}
await browser.close();

// 3. Lighthouse, mobile, on the logged-in page: log in in the same Chrome, then audit.
if (PARTS.has('lighthouse')) {
  const chrome = await chromeLauncher.launch({ chromePath: CHROME, chromeFlags: ARGS });
  try {
    const b = await chromium.connectOverCDP(`http://127.0.0.1:${chrome.port}`);
    const ctx = b.contexts()[0];
    const p = await ctx.newPage();
    await p.goto(BASE + '/'); await login(p);
    await p.getByTestId('finding').first().waitFor({ timeout: 60_000 });
    await p.close();
    const r = await lighthouse(BASE + '/', { port: chrome.port, output: 'json', logLevel: 'error', disableStorageReset: true,
      onlyCategories: ['performance', 'accessibility', 'best-practices', 'seo'] });
    const c = r.lhr.categories;
    const s = (k) => Math.round(c[k].score * 100);
    console.log(`lighthouse mobile (logged in): performance ${s('performance')}, accessibility ${s('accessibility')}, best practices ${s('best-practices')}, SEO ${s('seo')}`);
    const a = r.lhr.audits;
    console.log(`  LCP ${a['largest-contentful-paint'].displayValue}, TBT ${a['total-blocking-time'].displayValue}, CLS ${a['cumulative-layout-shift'].displayValue}, FCP ${a['first-contentful-paint'].displayValue}`);
    const failed = Object.values(a).filter((x) => x.score !== null && x.score < 0.9 && x.scoreDisplayMode !== 'informative' && x.scoreDisplayMode !== 'manual' && x.scoreDisplayMode !== 'notApplicable');
    for (const x of failed.slice(0, 12)) console.log(`  below 0.9: ${x.id} (${x.score}) ${x.displayValue || ''}`);
    await b.close().catch(() => {});
  } finally {
    await chrome.kill();
  }
}
