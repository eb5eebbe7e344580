// What the scenarios do on the portal, written once against its page contract (see README.md):
// sign up, confirm by mail, log in, fill the create form, read errors, wait for a wiki.

import {
  assert,
  baseUrl,
  env,
  goto,
  linkIn,
  log,
  navigation,
  readMail,
  screenshot,
  textOf,
  waitFor,
} from './lib.mjs';

export const PASSWORD = 'correct horse battery';

/** For reads inside polling loops: the page may be navigating (meta refresh). */
const QUICK = { timeout: 2_000 };

/** The submit button of a form (button or input). */
export function submitButton(form) {
  return form.locator('button[type=submit], input[type=submit], button:not([type])').first();
}

/** Pathname of the page's URL. */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** Lower case, runs of spaces/underscores as hyphens: "Needs more info" → "needs-more-info". */
export function normalized(text) {
  return (text || '').trim().toLowerCase().replace(/[\s_]+/g, '-');
}

/** Fails at once (not after a timeout) if `selector` is not on the page exactly once. */
export async function requireOne(page, selector) {
  const count = await page.locator(selector).count();
  assert(count === 1, `expected one ${selector} on ${page.url()}, found ${count}`);
  return page.locator(selector);
}

/** The `data-code` of every `.error` element on the page. */
export async function errorCodes(page) {
  const codes = [];
  for (const element of await page.locator('.error').all()) {
    codes.push(await element.getAttribute('data-code'));
  }
  return codes;
}

/** Fills `/signup` and submits it; `shot` names screenshots of the filled form. */
export async function signUp(page, { username, email, password = PASSWORD, shot = null }) {
  await goto(page, '/signup');
  const form = await requireOne(page, 'form#signup');
  await form.locator('[name=username]').fill(username);
  await form.locator('[name=email]').fill(email);
  await form.locator('[name=password]').fill(password);
  if (shot) await screenshot(page, shot);
  const response = await navigation(page, () => submitButton(form).click());
  const codes = await errorCodes(page);
  assert(codes.length === 0, `sign-up refused (status ${response && response.status()}): ${JSON.stringify(codes)}`);
  assert((await page.locator('#signup-done').count()) === 1, `no #signup-done after signing up; at ${page.url()}`);
}

/** Reads the confirmation mail to `email` and opens its link in `page`: `#confirmed`. */
export async function confirmEmail(page, email) {
  const mail = await readMail(env('MAILDIR'), email, 'Confirm your email');
  const link = linkIn(mail, '/confirm-email?token=');
  assert.equal(new URL(link).host, new URL(baseUrl()).host, `host of the link in the mail (${link})`);
  const response = await goto(page, link);
  assert.equal(response.status(), 200, 'status of the confirmation link');
  assert((await page.locator('#confirmed').count()) === 1, 'no #confirmed on the confirmation page');
}

/** Logs in through `/login`; lands on `/wikis`. */
export async function logIn(page, login, password = PASSWORD, { shot = null } = {}) {
  await goto(page, '/login');
  const form = await requireOne(page, 'form#login');
  await form.locator('[name=login]').fill(login);
  await form.locator('[name=password]').fill(password);
  if (shot) await screenshot(page, shot);
  await navigation(page, () => submitButton(form).click());
  assert.equal(pathOf(page), '/wikis', `after logging in as ${login} (errors: ${JSON.stringify(await errorCodes(page))})`);
}

/** Signs up, confirms and logs in: a member ready to create. */
export async function newMember(page, username, { shots = false } = {}) {
  const email = `${username}@example.org`;
  await signUp(page, { username, email, shot: shots ? 'signup' : null });
  if (shots) await screenshot(page, 'signup-done');
  await confirmEmail(page, email);
  if (shots) await screenshot(page, 'confirmed');
  await logIn(page, username, PASSWORD, { shot: shots ? 'login' : null });
}

/** The create form on `/wikis/new`. */
export function createForm(page) {
  return page.locator('form#create-wiki');
}

/** Types `name` into the create form as a person would (keys, then leaving the field). */
export async function typeName(page, name) {
  const input = createForm(page).locator('[name=name]');
  await input.fill('');
  await input.pressSequentially(name, { delay: 25 });
  await input.blur();
}

/** Waits until `#name-check` has `data-state` = `state` (and `data-code` = `code` if given). */
export async function expectNameCheck(page, state, code = null, timeoutMs = 15_000) {
  return waitFor(
    page,
    async () => {
      const check = page.locator('#name-check');
      if ((await check.count()) === 0) return { done: false, seen: 'no #name-check' };
      const seen = {
        state: await check.getAttribute('data-state', QUICK),
        code: await check.getAttribute('data-code', QUICK),
        text: ((await check.textContent(QUICK)) || '').trim(),
      };
      return { ...seen, done: seen.state === state && (code === null || seen.code === code) };
    },
    { timeoutMs, what: `#name-check to say ${state}${code ? ` ${code}` : ''}` },
  );
}

/**
 * Fills the create form (name typed, not pasted, so the live check runs), and in review mode
 * the purpose and reason. Leaves the language as the page chose it.
 */
export async function fillCreateForm(page, { name, sitename, purpose = null, reason = null }) {
  const form = await requireOne(page, 'form#create-wiki');
  await typeName(page, name);
  await form.locator('[name=sitename]').fill(sitename);
  const languages = await form.locator('select[name=language] option').count();
  assert(languages > 0, 'select[name=language] has no options');
  if (purpose !== null) await form.locator('textarea[name=purpose]').fill(purpose);
  if (reason !== null) await form.locator('textarea[name=reason]').fill(reason);
}

/** Submits the create form with its button; returns the response. */
export async function submitCreate(page) {
  return navigation(page, () => submitButton(createForm(page)).click());
}

/**
 * Submits the create form the way a browser does without any script or constraint checks
 * (HTMLFormElement.submit), so that the server's answer is what is tested even if the page's
 * own checks would have stopped the click.
 */
export async function submitCreateToServer(page) {
  return navigation(page, () => createForm(page).evaluate((form) => HTMLFormElement.prototype.submit.call(form)));
}

/** State and steps on `/wikis/{name}`, as read from the page. */
export async function wikiStatus(page) {
  const state = normalized(await textOf(page, '#wiki-state'));
  const steps = [];
  for (const item of await page.locator('#steps li').all()) {
    steps.push({
      done: await item.getAttribute('data-done', QUICK),
      text: ((await item.textContent(QUICK)) || '').replace(/\s+/g, ' ').trim(),
    });
  }
  return { state, steps };
}

/**
 * Watches `/wikis/{name}` (already open in `page`) until `#wiki-state` says active, reloading
 * every `reloadEveryMs` if the page does not update itself; then every step is done and
 * `a#open-wiki` points at http://{name}.localhost:PORT/.
 */
export async function waitWikiActive(page, name, { reloadEveryMs = 10_000, timeoutMs = 180_000 } = {}) {
  let sawProgress = false;
  const final = await waitFor(
    page,
    async () => {
      const status = await wikiStatus(page);
      if (status.state && status.state !== 'active') sawProgress = true;
      if (status.state === 'failed') return { ...status, fatal: `the wiki failed: ${JSON.stringify(status)}` };
      return { ...status, done: status.state === 'active' };
    },
    { timeoutMs, reloadEveryMs, what: `#wiki-state of ${name} to be "active"` },
  );
  log(`  ${name} is active (${sawProgress ? 'seen provisioning first' : 'active at once'}); steps: ${final.steps.map((s) => `${s.text}=${s.done}`).join(', ')}`);
  assert(final.steps.length > 0, 'no #steps li on the wiki page');
  for (const s of final.steps) assert.equal(s.done, 'true', `data-done of the step ${JSON.stringify(s.text)} once active`);
  const link = page.locator('a#open-wiki');
  assert((await link.count()) === 1, 'no a#open-wiki on an active wiki');
  const href = new URL(await link.getAttribute('href'), page.url());
  const base = new URL(baseUrl());
  assert.equal(href.host, `${name}.${base.hostname}${base.port ? ':' + base.port : ''}`, `host of a#open-wiki (${href})`);
  return final;
}

/** Follows a link like a click would, also when it opens a new tab; returns the page shown. */
export async function followLink(page, link) {
  const target = await link.getAttribute('target');
  if (target && target !== '_self') {
    const [popup] = await Promise.all([page.context().waitForEvent('page'), link.click()]);
    await popup.waitForLoadState('load');
    log(`  -> (new tab) ${popup.url()}`);
    return popup;
  }
  await navigation(page, () => link.click());
  return page;
}

/** Names of the wikis in `table#my-wikis` (the text of each row's first cell); [] without a table. */
export async function myWikis(page) {
  await goto(page, '/wikis');
  const table = page.locator('table#my-wikis');
  if ((await table.count()) === 0) {
    log('  (no table#my-wikis on /wikis)');
    return { table: false, rows: [] };
  }
  const rows = [];
  for (const row of await table.locator('tr').all()) {
    if ((await row.locator('td').count()) === 0) continue; // header row
    rows.push(((await row.textContent()) || '').replace(/\s+/g, ' ').trim());
  }
  return { table: true, rows };
}

/** The row of `table#my-wikis` that holds the wiki `name` (as a link to it or as text). */
export async function hasWikiRow(page, name) {
  const table = page.locator('table#my-wikis');
  const byLink = await table.locator(`tr:has(a[href$="/wikis/${name}"])`).count();
  const byText = await table.locator('tr').filter({ hasText: name }).count();
  return byLink + byText > 0;
}

/**
 * Switches the portal's language with `a[hreflang]` links or `select#lang` (a select may
 * switch by itself with JavaScript or need its form's button).
 */
export async function switchLanguage(page, lang) {
  const link = page.locator(`a[hreflang="${lang}"], a[hreflang^="${lang}-"]`).first();
  if ((await link.count()) > 0) {
    await navigation(page, () => link.click());
    return;
  }
  const select = page.locator('select#lang');
  assert((await select.count()) === 1, `no a[hreflang=${lang}] and no select#lang on ${page.url()}`);
  const values = [];
  for (const option of await select.locator('option').all()) values.push(await option.getAttribute('value'));
  const value = values.find((v) => v === lang || (v && v.startsWith(`${lang}-`)));
  assert(value, `select#lang has no option for ${lang}: ${JSON.stringify(values)}`);
  const switched = page.waitForNavigation({ waitUntil: 'load', timeout: 5_000 }).catch(() => null);
  await select.selectOption(value);
  if (await switched) return;
  const button = select.locator('xpath=ancestor::form[1]').locator('button, input[type=submit]').first();
  assert((await button.count()) === 1, 'choosing in select#lang did not switch, and its form has no button');
  await navigation(page, () => button.click());
}

/** The create page's submit button text (or value). */
export async function createButtonText(page) {
  const button = submitButton(createForm(page));
  const text = ((await button.textContent()) || '').trim();
  return text || (await button.getAttribute('value')) || '';
}
