// Helpers for the portal scenarios: one headless Chromium (Debian's, driven by playwright-core),
// pages in separate contexts (cookie jars), screenshots at two widths, the test Maildir, and a
// step logger so a failure says where it happened. Run by tests/common/browser.rs.

import { chromium } from 'playwright-core';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Default timeout of every Playwright action and wait, in ms. */
export const TIMEOUT = Number(process.env.STEP_TIMEOUT_MS || 30_000);

/** The value of a required environment variable. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/** The farm's portal, without a trailing slash (BASE_URL, e.g. http://localhost:8080). */
export function baseUrl() {
  return env('BASE_URL').replace(/\/+$/, '');
}

/** BASE_URL + path. */
export function url(path) {
  return baseUrl() + path;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Logging and assertions

const SCRIPT = basename(process.argv[1] || 'scenario', '.mjs');
let stepCount = 0;
let currentStep = '(before the first step)';
const started = Date.now();

export function log(message) {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[${SCRIPT} ${seconds}s] ${message}`);
}

/** Runs one named step; its name is printed before and is in the error if it fails. */
export async function step(title, fn) {
  stepCount += 1;
  currentStep = `${stepCount}. ${title}`;
  log(`step ${currentStep}`);
  const t0 = Date.now();
  const result = await fn();
  log(`  ok (${Date.now() - t0} ms)`);
  return result;
}

export class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AssertionError';
  }
}

const show = (value) => (typeof value === 'string' ? JSON.stringify(value) : String(value));

/** assert(condition, message) and a few comparisons that print both sides. */
export function assert(condition, message = 'assertion failed') {
  if (!condition) throw new AssertionError(message);
}
assert.equal = (actual, expected, message = '') => {
  if (actual !== expected) {
    throw new AssertionError(`${message ? message + ': ' : ''}expected ${show(expected)}, got ${show(actual)}`);
  }
};
assert.notEqual = (actual, unexpected, message = '') => {
  if (actual === unexpected) {
    throw new AssertionError(`${message ? message + ': ' : ''}expected something other than ${show(unexpected)}`);
  }
};
assert.includes = (haystack, needle, message = '') => {
  if (haystack == null || !haystack.includes(needle)) {
    const shown = typeof haystack === 'string' ? show(haystack.slice(0, 2000)) : JSON.stringify(haystack);
    throw new AssertionError(`${message ? message + ': ' : ''}expected ${show(needle)} in ${shown}`);
  }
};
assert.match = (text, regex, message = '') => {
  if (typeof text !== 'string' || !regex.test(text)) {
    throw new AssertionError(`${message ? message + ': ' : ''}expected ${show(text)} to match ${regex}`);
  }
};

// ---------------------------------------------------------------------------------------------
// Browser

let browser = null;

/** The one Chromium of this script (started on first use). */
export async function launch() {
  if (!browser) {
    const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
    // --no-sandbox: the tests run as root, and Chromium refuses its sandbox as root.
    // HOST_RESOLVER_RULES maps a test's own domain to loopback (MAP farm.example.test 127.0.0.1).
    const args = ['--no-sandbox'];
    if (process.env.HOST_RESOLVER_RULES) args.push(`--host-resolver-rules=${process.env.HOST_RESOLVER_RULES}`);
    browser = await chromium.launch({ executablePath, args, timeout: 60_000 });
    log(`chromium ${browser.version()} (${executablePath})`);
  }
  return browser;
}

/**
 * A page in a new browser context: its own cookies, so two pages from two calls are two people.
 * `locale` sets Accept-Language (English unless told otherwise).
 */
export async function newPage({ javaScriptEnabled = true, viewport = DESKTOP, locale = 'en-US' } = {}) {
  const b = await launch();
  const context = await b.newContext({ javaScriptEnabled, viewport, locale });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(60_000);
  const page = await context.newPage();
  page.on('pageerror', (error) => log(`  [page error] ${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    // Failed loads are logged with their address below.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      log(`  [console error] ${page.url()}: ${message.text()}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) {
      log(`  [${response.status()}] ${response.request().method()} ${response.url()}`);
    }
  });
  return page;
}

/** Every open page of every context. */
function openPages() {
  return browser ? browser.contexts().flatMap((context) => context.pages()) : [];
}

/** Screenshots directory (SCREENSHOTS), created if needed. */
function screenshotDir() {
  const dir = process.env.SCREENSHOTS || join(process.cwd(), 'target', 'portal-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Full-page screenshots of `page` as it is now, at desktop and phone width:
 * SCREENSHOTS/NAME-desktop.png and SCREENSHOTS/NAME-phone.png. The viewport is restored after.
 */
export async function screenshot(page, name) {
  const dir = screenshotDir();
  const before = page.viewportSize() || DESKTOP;
  const paths = [];
  try {
    for (const [suffix, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(viewport);
      const path = join(dir, `${name}-${suffix}.png`);
      await page.screenshot({ path, fullPage: true });
      paths.push(path);
    }
  } finally {
    await page.setViewportSize(before);
  }
  log(`  screenshots ${paths.join(', ')}`);
  return paths;
}

// ---------------------------------------------------------------------------------------------
// Navigation helpers

/** Opens BASE_URL + path (or an absolute URL); returns the main response. */
export async function goto(page, pathOrUrl) {
  const target = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : url(pathOrUrl);
  const response = await page.goto(target);
  log(`  GET ${target} -> ${response ? response.status() : 'no response'} ${page.url()}`);
  return response;
}

/**
 * Runs `action` (a click, a submit...) and waits until the page has navigated and loaded;
 * returns the final main response (after redirects).
 */
export async function navigation(page, action) {
  const waiting = page.waitForNavigation({ waitUntil: 'load' });
  await action();
  const response = await waiting;
  log(`  -> ${response ? response.status() : 'no response'} ${page.url()}`);
  return response;
}

/** The path of the page's current URL (with query). */
export function currentPath(page) {
  const u = new URL(page.url());
  return u.pathname + u.search;
}

/**
 * Polls `probe()` until it returns an object with `done: true` (returned) or `fatal: "why"`
 * (thrown); reloads the page
 * every `reloadEveryMs` meanwhile if asked (pages may update themselves with JavaScript or a
 * meta refresh; a reload is the fallback). The last object seen is in the error.
 */
export async function waitFor(page, probe, { timeoutMs = 120_000, reloadEveryMs = 0, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastReload = Date.now();
  let last;
  let reloads = 0;
  for (;;) {
    try {
      last = await probe();
      if (last && last.fatal) throw new AssertionError(`${what}: ${last.fatal}`);
      if (last && last.done) {
        if (reloads) log(`  (${what}: after ${reloads} reload(s) by the test)`);
        return last;
      }
    } catch (error) {
      if (error instanceof AssertionError) throw error;
      // The page navigated under us (meta refresh, reload): look again.
      last = { error: error.message.split('\n')[0] };
    }
    if (Date.now() > deadline) {
      throw new AssertionError(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    }
    if (reloadEveryMs && Date.now() - lastReload > reloadEveryMs) {
      lastReload = Date.now();
      reloads += 1;
      try {
        await page.reload();
      } catch (error) {
        log(`  (reload: ${error.message.split('\n')[0]})`);
      }
    }
    await sleep(250);
  }
}

/** Trimmed text of the first element matching `selector`, or null if there is none. */
export async function textOf(page, selector) {
  const locator = page.locator(selector).first();
  if ((await locator.count()) === 0) return null;
  return ((await locator.textContent({ timeout: 5_000 })) || '').replace(/\s+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------
// Mail (aiosmtpd's Mailbox handler writes one file per message into MAILDIR/new)

function decodeQuotedPrintable(text) {
  const bytes = [];
  const soft = text.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i += 1) {
    const c = soft[i];
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** RFC 2047 encoded words (=?utf-8?Q?...?= and =?utf-8?B?...?=) in a header value. */
function decodeHeader(value) {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, _charset, encoding, data) =>
      encoding.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}

/** Parses one raw message: { to, subject, body, file }. Single-part text, as the farm sends. */
export function parseMail(raw, file = '') {
  const text = raw.toString('utf8');
  const split = text.search(/\r?\n\r?\n/);
  const head = split < 0 ? text : text.slice(0, split);
  let body = split < 0 ? '' : text.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      if (!(name in headers)) headers[name] = decodeHeader(line.slice(colon + 1).trim());
    }
  }
  const encoding = (headers['content-transfer-encoding'] || '').toLowerCase();
  if (encoding === 'quoted-printable') body = decodeQuotedPrintable(body);
  else if (encoding === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return { to: headers.to || '', subject: headers.subject || '', body: body.replace(/\r\n/g, '\n'), headers, file };
}

/** Every message in the Maildir so far. */
export function mails(maildir = env('MAILDIR')) {
  const found = [];
  for (const sub of ['new', 'cur']) {
    let names = [];
    try {
      names = readdirSync(join(maildir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        found.push(parseMail(readFileSync(join(maildir, sub, name)), join(sub, name)));
      } catch {
        // Being written: the next poll sees it.
      }
    }
  }
  return found;
}

/** Waits for a message to `to` whose subject contains `subjectContains`; returns it. */
export async function readMail(maildir, to, subjectContains, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = mails(maildir);
    const mail = all.find((m) => m.to.includes(to) && m.subject.includes(subjectContains));
    if (mail) {
      log(`  mail to ${to}: ${JSON.stringify(mail.subject)}`);
      return mail;
    }
    if (Date.now() > deadline) {
      const seen = all.map((m) => `${m.to}: ${m.subject}`);
      throw new AssertionError(`no mail to ${to} about ${JSON.stringify(subjectContains)} within ${timeoutMs} ms; received: ${JSON.stringify(seen)}`);
    }
    await sleep(200);
  }
}

/** The first link in `mail` whose line contains `marker` (e.g. "/confirm-email?token="). */
export function linkIn(mail, marker) {
  const line = mail.body.split('\n').find((l) => l.includes(marker));
  assert(line, `no line with ${marker} in the mail ${JSON.stringify(mail.subject)}:\n${mail.body}`);
  const match = line.match(/https?:\/\/\S+/);
  assert(match, `no URL on the line ${JSON.stringify(line)}`);
  return match[0].replace(/[>).,]+$/, '');
}

// ---------------------------------------------------------------------------------------------
// Running a scenario

/**
 * Runs `main()`; on failure prints the step, the error, and each open page's URL and text,
 * saves FAILED-<script>-<n> screenshots, and exits with status 1. Always closes Chromium.
 */
export async function run(main) {
  const limitMs = Number(process.env.SCENARIO_TIMEOUT_MS || 480_000);
  const watchdog = setTimeout(() => {
    console.error(`[${SCRIPT}] TIMED OUT after ${limitMs} ms in step ${currentStep}`);
    process.exit(1);
  }, limitMs);
  watchdog.unref();
  let failed = false;
  try {
    await main();
    log(`PASSED (${stepCount} steps)`);
  } catch (error) {
    failed = true;
    console.error(`[${SCRIPT}] FAILED in step ${currentStep}`);
    console.error(error && error.stack ? error.stack : String(error));
    await reportPages();
  } finally {
    clearTimeout(watchdog);
    if (browser) await browser.close().catch(() => {});
  }
  process.exitCode = failed ? 1 : 0;
}

async function reportPages() {
  const pages = openPages();
  for (const [index, page] of pages.entries()) {
    try {
      console.error(`--- open page ${index + 1}: ${page.url()}`);
      const text = await page.locator('body').innerText({ timeout: 2_000 });
      console.error(text.slice(0, 3000));
      const path = join(screenshotDir(), `FAILED-${SCRIPT}-${index + 1}.png`);
      await page.screenshot({ path, fullPage: true, timeout: 5_000 });
      console.error(`--- screenshot ${path}`);
    } catch (error) {
      console.error(`(could not report this page: ${error.message.split('\n')[0]})`);
    }
  }
}
