// The review workbench in a real browser (headless Chromium through
// playwright-core): two clinicians review the same trace by keyboard, they
// disagree, an adjudicator decides, and an auditor downloads the proof
// bundle of a review. Run by crates/cts/tests/e2e_browser.rs, which starts
// `cts serve`, creates the accounts and verifies the downloaded bundle.
//
// Environment: BASE_URL (http://localhost:PORT: the session cookie is
// Secure, which Chromium accepts on localhost only), OUT_DIR (screenshots
// and leaf.tlog-proof), CLIN1_PASSWORD, CLIN2_PASSWORD, ADJ_PASSWORD,
// AUD_PASSWORD, and optionally CHROMIUM (default /usr/bin/chromium).
// Exits non-zero with the failing step's name; a screenshot of the page at
// that moment is saved as OUT_DIR/failure.png.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
};
const BASE = env('BASE_URL').replace(/\/$/, '');
const OUT = env('OUT_DIR');
const PASSWORDS = {
  clin1: env('CLIN1_PASSWORD'),
  clin2: env('CLIN2_PASSWORD'),
  adj: env('ADJ_PASSWORD'),
  aud: env('AUD_PASSWORD'),
};
const STEP_TIMEOUT = 15_000;
const BUNDLE = join(OUT, 'leaf.tlog-proof');

mkdirSync(OUT, { recursive: true });

/** Fails with `message` unless `cond` holds. */
function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Polls `probe` until it returns a truthy value (returned) or times out. */
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
    await new Promise((r) => setTimeout(r, 100));
  }
}

let current = null; // the page a failure screenshot shows
const jsErrors = [];

async function shot(page, name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

/** Runs one named part of the scenario, so a failure says where it happened. */
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

/** A fresh browser context (own cookies and storage) signed in as `user`. */
async function signIn(browser, user, screenshot) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(STEP_TIMEOUT);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT);
  const page = await context.newPage();
  current = page;
  page.on('pageerror', (e) => jsErrors.push(`${user}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') jsErrors.push(`${user}: console: ${m.text()} (${m.location().url})`);
  });
  await page.goto(`${BASE}/login`);
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(PASSWORDS[user]);
  if (screenshot) await shot(page, 'login');
  await page.locator('#signin').click();
  const signedIn = () => !new URL(page.url()).pathname.startsWith('/login');
  await until(`${user} to be signed in`, async () => signedIn() || (await page.locator('p.error').count()));
  if (!signedIn()) throw new Error(`signing in as ${user} failed: ${await page.locator('p.error').textContent()}`);
  const who = await page.locator('header .who').textContent();
  check(who.includes(user), `after signing in the header names ${JSON.stringify(who)}, not ${user}`);
  return page;
}

const press = (page, key) => page.keyboard.press(key);

/** Claims the next trace from the queue; returns its id. */
async function claim(page) {
  await Promise.all([page.waitForURL(/\/review\?trace=/), page.locator('#claim').click()]);
  await until('the review script to render the steps', () => page.locator('#save-status').evaluate((s) => s.textContent !== 'loading…'));
  return (await page.locator('#trace-id').textContent()).trim();
}

/**
 * Number of steps on the review page and how many of them the model wrote:
 * when it wrote none, one is added by keyboard, since a review needs a step.
 */
async function stepCount(page) {
  const n = await page.locator('#steps li.step').count();
  if (n === 0) {
    await press(page, 'a');
    await until('the editor of the added step', () => page.evaluate(() => document.activeElement?.id === 'editor-text'));
    await page.keyboard.type('Check the patient\'s renal function before dosing.');
    await press(page, 'Tab');
    await page.keyboard.type('the model gave no reasoning');
    await press(page, 'Control+Enter');
    await until('the added step', async () => (await page.locator('#steps li.step').count()) === 1);
    return { n: 1, model: 0 };
  }
  return { n, model: n };
}

/** Labels of every step as shown: '+1', '0', '−1' or '?' per step. */
const labels = (page) => page.locator('#steps li.step').evaluateAll((lis) => lis.map((li) => li.querySelector('.lbl.on')?.textContent ?? '?'));

/** Ratings as shown, one number (or null) per rubric dimension. */
const ratings = (page) => page.locator('#ratings .dim').evaluateAll((ds) => ds.map((d) => {
  const on = d.querySelector('.rate.on');
  return on ? Number(on.textContent) : null;
}));

/** Moves the current step to `i` with j/k. */
async function goToStep(page, i) {
  const cur = await page.locator('#steps li.step.current').getAttribute('data-index');
  const delta = i - Number(cur);
  for (let k = 0; k < Math.abs(delta); k++) await press(page, delta > 0 ? 'j' : 'k');
  await until(`step ${i + 1} to be current`, () => page.locator(`#step-${i}.current`).count());
}

/** Labels every step with `key` (1, 2 or 3) using the keyboard only. */
async function labelAll(page, n, key, shown) {
  await goToStep(page, 0);
  for (let i = 0; i < n; i++) {
    await press(page, key);
    await until(`step ${i + 1} labelled ${shown}`, async () => (await labels(page))[i] === shown);
    if (i < n - 1) await press(page, 'j');
  }
  const all = await labels(page);
  check(all.every((l) => l === shown), `every step should be ${shown}, page shows ${all.join(' ')}`);
}

/** Rates every dimension by pressing `values[k]` (ratings mode advances itself). */
async function rateAll(page, values) {
  await press(page, 'r');
  await until('the first rating dimension to be current', () => page.locator('#ratings .dim.current').first().evaluate((d) => d === d.parentElement.firstElementChild));
  for (const v of values) await press(page, String(v));
  await until(`ratings ${values.join(',')}`, async () => JSON.stringify(await ratings(page)) === JSON.stringify(values));
}

/** Focuses the rationale with `t` and types `text`. */
async function writeRationale(page, text) {
  await press(page, 't');
  await until('the rationale to have focus', () => page.evaluate(() => document.activeElement?.id === 'rationale'));
  await page.keyboard.type(text);
  await press(page, 'Escape');
  await until('the rationale to lose focus', () => page.evaluate(() => document.activeElement?.id !== 'rationale'));
}

const saved = (page) => until('"draft saved" in #save-status', async () => (await page.locator('#save-status').textContent()) === 'draft saved');

/**
 * Shift+S, then Enter in the confirm dialog (its default); submit-and-next
 * opens the next trace or the queue. Then opens the trace's history.
 */
async function submit(page, trace) {
  await press(page, 'Shift+S');
  await page.locator('#confirm-submit[open] #confirm-ok').waitFor({ state: 'visible' });
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/queue' || (u.pathname === '/review' && u.searchParams.get('trace') !== trace)),
    press(page, 'Enter'),
  ]);
  await page.goto(`${BASE}/history?trace=${encodeURIComponent(trace)}`);
  const title = await page.locator('main .meta code').first().textContent();
  check(title === trace, `history is of ${title}, expected ${trace}`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // The background-networking flags keep Chromium from dialling out
    // (refused on a closed network); sandboxing needs privileges CI lacks.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  try {
    await scenario(browser);
  } catch (e) {
    if (current && !current.isClosed()) {
      await current.screenshot({ path: join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
    }
    throw e;
  } finally {
    await browser.close();
  }
}

async function scenario(browser) {
  let trace;
  let n;
  let modelSteps; // without a model step there is nothing to diff against
  let dims;
  let page;
  let editedText;
  const editWhy = 'dose depends on renal function';
  const rationale1 = 'Sound reasoning overall; the dose needs the renal check added in step 1.';

  await part('clin1 signs in and claims the next trace from the queue', async () => {
    page = await signIn(browser, 'clin1', true);
    await Promise.all([page.waitForURL(/\/queue$/), page.locator('main a[href="/queue"]').click()]);
    await page.locator('#claim').waitFor();
    await shot(page, 'queue');
    trace = await claim(page);
    ({ n, model: modelSteps } = await stepCount(page));
    dims = await page.locator('#ratings .dim').count();
    check(dims > 0, 'the rubric shows no rating dimensions');
    console.log(`\n  trace ${trace}: ${modelSteps} model step(s), ${dims} rating dimension(s)`);
  });

  await part('clin1 labels every step +1 with 3 and j', async () => {
    await labelAll(page, n, '3', '+1');
    await saved(page);
    await shot(page, 'review');
  });

  await part('clin1 toggles a flag with f then 1', async () => {
    await goToStep(page, n - 1);
    const box = page.locator(`#step-${n - 1} .flags input[type=checkbox]`).first();
    check(!(await box.isChecked()), 'the first flag is set before pressing f 1');
    await press(page, 'f');
    await until('the flag picker', () => page.locator(`#step-${n - 1} .flags.picking`).count());
    await press(page, '1');
    await until('the first flag to be set', () => box.isChecked());
    check((await page.locator('#steps .flags input:checked').count()) === 1, 'exactly one flag is set');
  });

  await part('clin1 edits step 1 with e, Ctrl+Enter; the word diff shows', async () => {
    await goToStep(page, 0);
    const original = (await page.locator('#step-0 .text').textContent()).trim();
    const words = original.split(/\s+/);
    editedText = [...words.slice(1), 'Check renal function first.'].join(' ');
    await press(page, 'e');
    await until('the step editor to have focus', () => page.evaluate(() => document.activeElement?.id === 'editor-text'));
    await press(page, 'Control+A');
    await page.keyboard.type(editedText);
    const typed = await page.locator('#editor-text').inputValue();
    check(typed === editedText, `letters typed into the editor fired shortcuts: it holds ${JSON.stringify(typed)}`);
    await press(page, 'Tab');
    await until('the edit rationale to have focus', () => page.evaluate(() => document.activeElement?.id === 'editor-why'));
    await page.keyboard.type(editWhy);
    await press(page, 'Control+Enter');
    await until('the editor to close', async () => (await page.locator('#editor-text').count()) === 0);
    const step = page.locator('#step-0');
    if (modelSteps > 0) {
      await until('inserted words in the diff', () => step.locator('.text.diff ins').count());
      await until('deleted words in the diff', () => step.locator('.text.diff del').count());
      check((await step.locator('.tag.edited').count()) === 1, 'step 1 is not tagged edited');
    } else {
      console.log('\n  the model wrote no step: the edit is of an added step, which has no diff');
      check((await step.locator('.text').textContent()) === editedText, 'the added step does not show the edited text');
    }
    check((await step.locator('.why').textContent()).includes(editWhy), 'the edit rationale is not shown');
    const label = await step.locator('.lbl.on').textContent();
    check(label === '+1', `editing changed the label of step 1 to ${label}`);
    await saved(page);
    await shot(page, 'review-diff');
  });

  const ratings1 = Array.from({ length: dims }, () => 5);
  await part('clin1 rates every dimension with r and digits, writes a rationale with t', async () => {
    await rateAll(page, ratings1);
    await writeRationale(page, rationale1);
    check((await page.locator('#rationale').inputValue()) === rationale1, 'the rationale text differs from what was typed');
  });

  await part('the draft autosaves and comes back after a reload', async () => {
    await saved(page);
    const local = await page.evaluate((t) => Object.keys(localStorage).filter((k) => k.startsWith('cts-draft:') && k.endsWith(':' + t)), trace);
    check(local.length === 0, 'an unsaved local copy is left after "draft saved"; the reload would not test the server');
    await page.reload();
    await until('the restored draft', async () => (await page.locator('#save-status').textContent()) === 'draft restored');
    const all = await labels(page);
    check(all.length === n && all.every((l) => l === '+1'), `labels after reload: ${all.join(' ')}`);
    check((await page.locator('#steps .flags input:checked').count()) === 1, 'the flag did not survive the reload');
    if (modelSteps > 0) await until('the diff after reload', () => page.locator('#step-0 .text.diff ins').count());
    else check((await page.locator('#step-0 .text').textContent()) === editedText, 'the edit did not survive the reload');
    const why = await page.locator('#step-0 .why').textContent();
    check(why.includes(editWhy), `edit rationale after reload: ${why}`);
    check(JSON.stringify(await ratings(page)) === JSON.stringify(ratings1), 'ratings did not survive the reload');
    check((await page.locator('#rationale').inputValue()) === rationale1, 'the rationale did not survive the reload');
    await shot(page, 'review-restored');
  });

  await part('? opens the help, Escape closes it; shortcuts stay quiet while typing', async () => {
    await press(page, '?');
    await page.locator('#help').waitFor({ state: 'visible' });
    check((await page.locator('#help').textContent()).includes('Keyboard shortcuts'), 'the help dialog has no shortcuts');
    await press(page, 'Escape');
    await page.locator('#help').waitFor({ state: 'hidden' });
    const before = await labels(page);
    const ratingsBefore = await ratings(page);
    await writeRationale(page, ' (dose table row 123)');
    const after = await labels(page);
    check(JSON.stringify(before) === JSON.stringify(after), `typing 123 in the rationale changed the labels: ${after.join(' ')}`);
    check(JSON.stringify(ratingsBefore) === JSON.stringify(await ratings(page)), 'typing 123 in the rationale changed the ratings');
    check((await page.locator('#rationale').inputValue()).includes('123'), 'the typed digits are not in the rationale');
    await saved(page);
  });

  await part('clin1 submits with Shift+S, Enter; the history shows version 1', async () => {
    await submit(page, trace);
    const v = page.locator('section.review-version h2');
    check((await v.count()) === 1, `history shows ${await v.count()} versions`);
    check((await v.textContent()).includes('version 1'), `history heading: ${await v.textContent()}`);
    const change = modelSteps > 0 ? 'tr.edited td.diff ins' : 'tr.added td.diff ins';
    check((await page.locator(`section.review-version ${change}`).count()) > 0, 'the history does not show the edit');
    await shot(page, 'history');
    await page.context().close();
  });

  await part('clin2 claims the same trace, labels every step −1, rates 1s and submits', async () => {
    page = await signIn(browser, 'clin2');
    await page.goto(`${BASE}/queue`);
    const second = await claim(page);
    check(second === trace, `clin2 got ${second}, expected the trace clin1 reviewed (${trace})`);
    const m = await stepCount(page);
    check(m.model === modelSteps, `clin2 sees ${m.model} model steps, clin1 saw ${modelSteps}`);
    check((await page.locator('#steps .lbl.on').count()) === 0, 'clin2 sees labels: reviews must be blind');
    await labelAll(page, m.n, '1', '−1');
    await rateAll(page, Array.from({ length: dims }, () => 1));
    await writeRationale(page, 'The reasoning misses the interaction and doses unsafely.');
    await saved(page);
    await submit(page, trace);
    await page.context().close();
  });

  await part('adj decides the disagreement side by side', async () => {
    page = await signIn(browser, 'adj');
    await Promise.all([page.waitForURL(/\/adjudication$/), page.locator('main a[href="/adjudication"]').click()]);
    const row = page.locator('tr', { has: page.locator('code', { hasText: trace }) });
    await row.waitFor();
    await Promise.all([page.waitForURL(/\/adjudication\/trace\?/), row.locator('a.adjudicate-link').click()]);
    check((await page.locator('section.review-version').count()) === 2, 'the adjudication page does not show both reviews');
    const conflicts = await page.locator('table.grid tr.conflict').count();
    check(conflicts === modelSteps, `${conflicts} of ${modelSteps} steps are marked as conflicts (+1 against −1)`);
    await shot(page, 'adjudication');
    await page.locator('input[name=chosen]').first().check();
    check((await page.locator('#reasons li').count()) > 0, 'the reasons are not listed in words');
    check((await page.locator('#model-answer').textContent()).length > 0, 'the model answer is not shown');
    await page.locator('#decision-rationale').fill('The first review matches the guideline on renal dosing.');
    await page.locator('#decision-confirm').check();
    await Promise.all([page.waitForURL(/\/adjudication\?decided=/), page.locator('#decide').click()]);
    check((await page.locator('#decided').textContent()).includes(trace), 'no confirmation of the decision');
    await Promise.all([page.waitForURL(/\/history\?trace=/), page.locator('#decided-history').click()]);
    const adj = page.locator('section.adjudication');
    await adj.waitFor();
    check((await adj.textContent()).includes('renal dosing'), 'the history does not show the adjudication rationale');
    await shot(page, 'history-adjudicated');
    await page.context().close();
  });

  await part('aud follows a review leaf and downloads its proof bundle', async () => {
    page = await signIn(browser, 'aud');
    await page.goto(`${BASE}/history?trace=${encodeURIComponent(trace)}`);
    const leaf = page.locator('a.leaf-link', { hasText: 'review leaf' }).first();
    await Promise.all([page.waitForURL(/\/audit\/leaf\?n=\d+/), leaf.click()]);
    const kind = await page.locator('h1 small').textContent();
    check(kind === 'review.submitted', `the review leaf is a ${kind} event`);
    await shot(page, 'audit-leaf');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-bundle').click()]);
    await download.saveAs(BUNDLE);
    check(download.suggestedFilename().endsWith('.tlog-proof'), `download named ${download.suggestedFilename()}`);
    await page.context().close();
  });

  check(jsErrors.length === 0, `errors in the browser console:\n  ${jsErrors.join('\n  ')}`);
  console.log(`bundle: ${BUNDLE}`);
}

try {
  await main();
} catch (e) {
  if (jsErrors.length) console.error(`errors in the browser console:\n  ${jsErrors.join('\n  ')}`);
  console.error(`\nE2E FAILED: ${e.message}\n(screenshots in ${OUT})`);
  process.exit(1);
}
