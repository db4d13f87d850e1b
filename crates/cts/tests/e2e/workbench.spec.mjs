// The review page for daily clinical use, in headless Chromium through
// playwright-core: a full review by keyboard with submit-and-next (and the
// keys it takes), drafts that survive a reload 100 ms after a change, a
// second tab that conflicts visibly, errors beside Submit, a wrong digit in
// rating mode, sign-out clearing local draft copies (and Back showing
// nothing), a 390 px wide page with visible step buttons and no horizontal
// scroll, the no-JavaScript message, the zero-step hint, and the agreement
// table. Run by crates/cts-web/tests/browser.rs, which starts a workbench
// over hand-written traces (k = 2, users alice, bob, carol, rhea).
//
// Environment: BASE_URL (http://localhost:PORT), OUT_DIR (screenshots),
// PASSWORD (every account's), EMPTY_TRACE (a trace with no model step,
// leased to carol), optionally CHROMIUM (default /usr/bin/chromium).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
};
const BASE = env('BASE_URL').replace(/\/$/, '');
const OUT = env('OUT_DIR');
const PASSWORD = env('PASSWORD');
const EMPTY_TRACE = env('EMPTY_TRACE');
const STEP_TIMEOUT = 15_000;
mkdirSync(OUT, { recursive: true });

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function until(what, probe, timeout = STEP_TIMEOUT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let current = null;
const jsErrors = [];
const shot = (page, name) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

async function part(name, fn) {
  const t0 = Date.now();
  process.stdout.write(`- ${name} … `);
  try {
    await fn();
  } catch (e) {
    process.stdout.write('FAILED\n');
    e.message = `${name}: ${e.message}`;
    throw e;
  }
  process.stdout.write(`ok (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}

async function newContext(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  context.setDefaultTimeout(STEP_TIMEOUT);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT);
  return context;
}

function watch(page, who) {
  current = page;
  page.on('pageerror', (e) => jsErrors.push(`${who}: ${e.message}`));
  page.on('console', (m) => {
    // A refused save (409) is logged by Chromium as a failed resource: expected in the conflict part.
    if (m.type() === 'error' && !/\b40[19]\b/.test(m.text())) jsErrors.push(`${who}: console: ${m.text()} (${m.location().url})`);
  });
  return page;
}

async function signIn(page, user) {
  await page.goto(`${BASE}/login`);
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(PASSWORD);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.locator('#signin').click()]);
  const who = await page.locator('header .who').textContent();
  check(who.includes(user), `signed in as ${who}, not ${user}`);
}

/** Keys pressed and characters typed, for the keyboard measurement. */
const keys = { pressed: 0, typed: 0, log: [] };
async function press(page, key) {
  keys.pressed++;
  keys.log.push(key);
  await page.keyboard.press(key);
}
async function type(page, text) {
  keys.typed += text.length;
  await page.keyboard.type(text);
}

const status = (page) => page.locator('#save-status').textContent();
const ready = (page) => until('the review script', async () => !['loading…', ''].includes(await status(page)));
const saved = (page) => until('"draft saved"', async () => (await status(page)) === 'draft saved');
/** Nothing pending: just saved, or loaded from the server with nothing newer here. */
const settled = (page) => until('no pending change', async () => ['draft saved', 'draft restored'].includes(await status(page)));
const labels = (page) => page.locator('#steps li.step').evaluateAll((lis) => lis.map((li) => li.querySelector('.lbl.on')?.textContent ?? '?'));
const ratings = (page) => page.locator('#ratings .dim').evaluateAll((ds) => ds.map((d) => {
  const on = d.querySelector('.rate.on');
  return on ? Number(on.textContent) : null;
}));
const traceOf = async (page) => (await page.locator('#trace-id').textContent()).trim();
const noHorizontalScroll = (page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  try {
    await scenario(browser);
  } catch (e) {
    if (current && !current.isClosed()) await current.screenshot({ path: join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

async function scenario(browser) {
  let t0;
  await part('without JavaScript the review page says it needs it', async () => {
    const context = await newContext(browser, { javaScriptEnabled: false });
    const page = watch(await context.newPage(), 'alice (no JS)');
    await signIn(page, 'alice');
    await page.goto(`${BASE}/queue`);
    await Promise.all([page.waitForURL(/\/review\?trace=/), page.locator('#claim').click()]);
    const msg = page.locator('#noscript');
    await msg.waitFor({ state: 'visible' });
    check((await msg.textContent()).includes('needs JavaScript'), 'no explanation without JavaScript');
    check((await status(page)) !== 'loaded', 'the page claims to be loaded');
    t0 = await traceOf(page);
    await shot(page, 'no-js');
    await context.close();
  });

  const context = await newContext(browser);
  let page = watch(await context.newPage(), 'alice');
  let dims;
  await part('alice reviews a trace by keyboard alone and Ctrl+Enter, Enter opens the next', async () => {
    await signIn(page, 'alice');
    await page.goto(`${BASE}/queue`);
    await Promise.all([page.waitForURL(/\/review\?trace=/), page.locator('#claim').click()]);
    await ready(page);
    check((await traceOf(page)) === t0, 'the held trace is offered again');
    const n = await page.locator('#steps li.step').count();
    dims = await page.locator('#ratings .dim').count();
    check(n === 3 && dims > 0, `${n} steps, ${dims} dimensions`);
    // From here every key counts, up to the next trace opened.
    for (let i = 0; i < n; i++) {
      await press(page, '3');
      if (i < n - 1) await press(page, 'j');
    }
    await press(page, 'r');
    for (let k = 0; k < dims; k++) await press(page, '4');
    await press(page, 't');
    await type(page, 'Sound reasoning; the interaction is handled.');
    await press(page, 'Control+Enter');
    await page.locator('#confirm-submit[open]').waitFor();
    const focused = await page.evaluate(() => document.activeElement?.id);
    check(focused === 'confirm-ok', `the confirm defaults to ${focused}, not Submit`);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/review' && u.searchParams.get('trace') !== t0),
      press(page, 'Enter'),
    ]);
    await ready(page);
    const flash = await page.locator('#flash').textContent();
    check(flash.includes('submitted') && flash.includes(t0), `no success message: ${flash}`);
    console.log(`\n  KEYS: a full review of ${n} steps and ${dims} ratings took ${keys.pressed} keys plus ${keys.typed} typed characters of rationale, from opening the trace to the next trace opened: ${keys.log.join(' ')}`);
    console.log('  of those, from the finished review to the next trace opened: 2 (Ctrl+Enter, Enter)');
    await shot(page, 'next-trace');
  });

  let t1;
  await part('errors appear beside Submit and name steps and dimensions; a wrong rating digit says so', async () => {
    t1 = await traceOf(page);
    await press(page, 'Shift+S');
    const msg = page.locator('#submit-msg');
    await until('the submit message', async () => (await msg.textContent()).includes('no label'));
    const text = await msg.textContent();
    const firstDim = await page.locator('#ratings .dim .dim-title').first().textContent();
    check(text.includes('steps 1, 2, 3 have no label') && text.includes(firstDim), `submit message: ${text}`);
    check(await page.locator('#banner').isVisible(), 'the banner does not show the error');
    check(!(await page.locator('#confirm-submit').evaluate((d) => d.open)), 'the confirm opened for an incomplete review');
    await press(page, 'r');
    await press(page, '9');
    const rm = page.locator('.rating-msg');
    await rm.waitFor();
    check((await rm.textContent()).includes('not on the scale') && (await rm.textContent()).includes(firstDim), `rating message: ${await rm.textContent()}`);
    check((await ratings(page)).every((r) => r === null), 'a wrong digit rated something');
    await press(page, 'Escape');
  });

  await part('a reload 100 ms after the last change keeps every field, with no conflict', async () => {
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press(i === 2 ? '1' : '3');
      if (i < 2) await page.keyboard.press('j');
    }
    await page.keyboard.press('f');
    await page.keyboard.press('1');
    await page.keyboard.press('k');
    await page.keyboard.press('k');
    await page.keyboard.press('e');
    await until('the editor', () => page.evaluate(() => document.activeElement?.id === 'editor-text'));
    await page.keyboard.press('Control+A');
    await page.keyboard.type('The patient takes warfarin, an anticoagulant with a narrow range.');
    await page.keyboard.press('Tab');
    await page.keyboard.type('the range matters here');
    await page.keyboard.press('Control+Enter');
    await until('the editor to close', async () => (await page.locator('#editor-text').count()) === 0);
    await page.keyboard.press('r');
    for (let k = 0; k < dims; k++) await page.keyboard.press(String((k % 5) + 1));
    await page.keyboard.press('t');
    await page.keyboard.type('Mostly right; the last step is unsafe.');
    await page.keyboard.press('Escape');
    // The final answer can be corrected (with the mouse here).
    await page.locator('#answer-correct').click();
    await page.locator('#answer-input').fill('C');
    await page.locator('#answer-input').press('Enter');
    await until('the corrected answer', async () => (await page.locator('#answer').textContent()) === 'C');
    await new Promise((r) => setTimeout(r, 100));
    await page.reload();
    await ready(page);
    check(!['conflict'].includes(await status(page)), 'a reload is taken for a conflict');
    const want = { labels: ['+1', '+1', '−1'], ratings: Array.from({ length: dims }, (_, k) => (k % 5) + 1) };
    check(JSON.stringify(await labels(page)) === JSON.stringify(want.labels), `labels after reload: ${await labels(page)}`);
    check(JSON.stringify(await ratings(page)) === JSON.stringify(want.ratings), `ratings after reload: ${await ratings(page)}`);
    check((await page.locator('#steps .flags input:checked').count()) === 1, 'the flag was lost');
    check((await page.locator('#step-0 .text').first().textContent()).includes('narrow range'), 'the edit was lost');
    check((await page.locator('#step-0 .why').textContent()).includes('the range matters'), 'the edit rationale was lost');
    check((await page.locator('#rationale').inputValue()) === 'Mostly right; the last step is unsafe.', `rationale after reload: ${await page.locator('#rationale').inputValue()}`);
    check((await page.locator('#answer').textContent()) === 'C', `answer after reload: ${await page.locator('#answer').textContent()}`);
    check((await page.locator('#answer-box .model-answer').textContent()).includes('the model answered'), 'the model answer is not shown beside the correction');
    await settled(page);
    check(await page.locator('#banner').isHidden(), `a banner shows: ${await page.locator('#banner').textContent()}`);
    // Saving goes on after the reload.
    await page.keyboard.press('j');
    await page.keyboard.press('2');
    await saved(page);
    const server = await page.evaluate(async (t) => (await fetch('/api/draft?trace=' + encodeURIComponent(t))).json(), t1);
    check(server.body.steps[1].label === 0 && server.body.rationale.startsWith('Mostly right'), `server draft: ${JSON.stringify(server.body)}`);
    // Reload twice in a row, the second within 100 ms of a change.
    await page.keyboard.press('3');
    await new Promise((r) => setTimeout(r, 100));
    await page.reload();
    await ready(page);
    await page.reload();
    await ready(page);
    check((await labels(page))[1] === '+1', `label after two reloads: ${await labels(page)}`);
    await settled(page);
    await shot(page, 'after-reload');
  });

  await part('a second tab editing the same draft conflicts visibly, and Submit says so', async () => {
    const other = watch(await context.newPage(), 'alice tab 2');
    await other.goto(`${BASE}/review?trace=${encodeURIComponent(t1)}`);
    await ready(other);
    await other.keyboard.press('t');
    await other.keyboard.type(' Second tab.');
    await saved(other);
    current = page;
    await page.bringToFront();
    await page.keyboard.press('1');
    await until('the conflict', async () => (await status(page)) === 'conflict');
    check(await page.locator('#banner-reload').isVisible(), 'no Reload button in the banner');
    await press(page, 'Shift+S');
    check((await page.locator('#submit-msg').textContent()).includes('another tab'), 'Submit gives no reason');
    await other.close();
    await Promise.all([page.waitForNavigation(), page.locator('#banner-reload').click()]);
    await ready(page);
    check((await page.locator('#rationale').inputValue()).endsWith('Second tab.'), 'the reload does not show the saved draft');
  });

  await part('at 390 px wide: no horizontal scroll, large flag boxes, buttons to edit, add and delete', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    check(await noHorizontalScroll(page), 'the review page scrolls sideways at 390 px');
    const box = await page.locator('#step-0 .flags input[type=checkbox]').first().boundingBox();
    check(box.width >= 18 && box.height >= 18, `flag boxes are ${box.width}×${box.height} px`);
    await page.locator('#step-1 .step-btn.edit').click();
    await page.locator('#editor-text').waitFor();
    await page.locator('#editor-cancel').click();
    await page.locator('#step-2 .step-btn.add').click();
    await page.locator('#editor-text').fill('Check the INR within a week.');
    await page.locator('#editor-why').fill('monitoring was missing');
    await page.locator('#editor-save').click();
    await until('the added step', async () => (await page.locator('#steps li.step').count()) === 4);
    check((await page.locator('#step-3 .tag.added').count()) === 1, 'the added step is not tagged');
    await page.locator('#step-3 .step-btn.delete').click();
    await page.locator('#delete-why').fill('not needed after all');
    await page.locator('#delete-confirm').click();
    await until('the step removed', async () => (await page.locator('#steps li.step').count()) === 3);
    check(await noHorizontalScroll(page), 'the review page scrolls sideways after editing at 390 px');
    await shot(page, 'review-390');
    for (const path of ['/queue', `/history?trace=${encodeURIComponent(t0)}`, '/']) {
      await page.goto(BASE + path);
      check(await noHorizontalScroll(page), `${path} scrolls sideways at 390 px`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await part('signing out clears the local draft copies; Back shows no signed-in page', async () => {
    await page.goto(`${BASE}/review?trace=${encodeURIComponent(t1)}`);
    await ready(page);
    await page.keyboard.press('t');
    await page.keyboard.type(' Unsaved words.');
    const kept = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('cts-draft:')));
    check(kept.length === 1 && kept[0].endsWith(':' + t1) && kept[0].includes(':R-'), `local copies: ${kept}`);
    await Promise.all([page.waitForURL(/\/login/), page.locator('#logout').click()]);
    const left = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('cts-draft:')));
    check(left.length === 0, `local copies after sign-out: ${left}`);
    await page.goBack();
    await page.waitForLoadState();
    check(new URL(page.url()).pathname === '/login' || (await page.locator('#signin').count()) === 1,
      `Back after sign-out shows ${page.url()}`);
    check((await page.locator('#steps').count()) === 0, 'Back after sign-out shows the review');
  });

  await part('bob signs in in the same browser and sees nothing of alice', async () => {
    await signIn(page, 'bob');
    await page.goto(`${BASE}/queue`);
    await Promise.all([page.waitForURL(/\/review\?trace=/), page.locator('#claim').click()]);
    await ready(page);
    check((await page.locator('#steps .lbl.on').count()) === 0, 'bob sees labels');
    check((await page.locator('#rationale').inputValue()) === '', 'bob sees a rationale');
    await page.context().close();
  });

  await part('a trace without model steps says how to add one', async () => {
    const c = await newContext(browser);
    page = watch(await c.newPage(), 'carol');
    await signIn(page, 'carol');
    await page.goto(`${BASE}/review?trace=${encodeURIComponent(EMPTY_TRACE)}`);
    await ready(page);
    const hint = page.locator('#no-steps');
    await hint.waitFor();
    check((await hint.textContent()).includes('Add step'), `hint: ${await hint.textContent()}`);
    await page.locator('#add-step').click();
    await page.locator('#editor-text').fill('Warfarin needs INR monitoring.');
    await page.locator('#editor-why').fill('the model gave no reasoning');
    await page.locator('#editor-save').click();
    await until('the added step', async () => (await page.locator('#steps li.step').count()) === 1);
    check((await page.locator('#no-steps').count()) === 0, 'the hint stays after adding a step');
    await saved(page);
    await c.close();
  });

  await part('the agreement table shows every figure in its own column', async () => {
    const c = await newContext(browser);
    page = watch(await c.newPage(), 'rhea');
    await signIn(page, 'rhea');
    await page.goto(`${BASE}/agreement`);
    const rows = await page.locator('#agreement tbody tr').count();
    check(rows > 0, 'the agreement table is empty');
    const cells = await page.locator('#agreement tbody tr').first().locator('td').evaluateAll((tds) => tds.map((td) => {
      const r = td.getBoundingClientRect();
      return { display: getComputedStyle(td).display, left: r.left, right: r.right, top: r.top };
    }));
    const heads = await page.locator('#agreement thead th').evaluateAll((ths) => ths.map((th) => th.getBoundingClientRect().left));
    check(cells.length === heads.length, `${cells.length} cells under ${heads.length} headings`);
    cells.forEach((c, i) => {
      check(c.display === 'table-cell', `cell ${i} is display:${c.display}`);
      check(Math.abs(c.left - heads[i]) < 1, `cell ${i} starts at ${c.left}, its heading at ${heads[i]}`);
      if (i > 0) check(c.left >= cells[i - 1].right - 1 && c.top === cells[0].top, `cell ${i} overlaps cell ${i - 1}`);
    });
    await shot(page, 'agreement');
    await c.close();
  });

  check(jsErrors.length === 0, `errors in the browser console:\n  ${jsErrors.join('\n  ')}`);
}

try {
  await main();
} catch (e) {
  if (jsErrors.length) console.error(`errors in the browser console:\n  ${jsErrors.join('\n  ')}`);
  console.error(`\nWORKBENCH E2E FAILED: ${e.message}\n(screenshots in ${OUT})`);
  process.exit(1);
}
