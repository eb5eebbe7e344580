// A wiki's settings page, with JavaScript and without: the owner changes the site name and
// turns Poem off in one submit, sees the new values and the wiki's own API agree, uploads a
// logo (previewed before and after), meets a stale form after a second session's change, reads
// the history (old → new) and restores revision 1. Env: BASE_URL, MAILDIR, SCREENSHOTS.
// Wants policy = "open" and a fresh farm (fixed account and wiki names).

import { assert, baseUrl, goto, log, navigation, newPage, run, screenshot, step, textOf, waitFor } from './lib.mjs';
import {
  errorCodes,
  expectNameCheck,
  fillCreateForm,
  logIn,
  newMember,
  pathOf,
  submitCreate,
  waitWikiActive,
} from './portal.mjs';

const OWNER = 'sam';
const NAME = 'sam-settings';
const SITENAME = 'Sam settings';
const NEW_SITENAME = 'Sam & Co\'s "notes"';
const EXTENSION = 'Poem';
// A 32×32 red PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAYAAABzenr0AAAAL0lEQVR42u3OIQEAAAgDsMd5/xS0ghiYifll2v0UAQEBAQEBAQEBAQEBAQGB78ABeThceZLwU0EAAAAASUVORK5CYII=',
  'base64',
);

const settingsPath = `/wikis/${NAME}/settings`;

/** The wiki's own address, http://NAME.localhost:PORT/. */
function wikiUrl() {
  const base = new URL(baseUrl());
  return `${base.protocol}//${NAME}.${base.hostname}${base.port ? ':' + base.port : ''}/`;
}

/** What the wiki's API says about itself: { sitename, extensions: [names] }. */
async function siteinfo(page) {
  const api = `${wikiUrl()}api.php?action=query&meta=siteinfo&siprop=general|extensions&format=json`;
  const response = await page.goto(api);
  // A plain error: waitFor looks again.
  if (response.status() !== 200) throw new Error(`status ${response.status()} of ${api}`);
  const answer = JSON.parse(await response.text());
  return {
    sitename: answer.query.general.sitename,
    extensions: (answer.query.extensions || []).map((e) => e.name),
  };
}

/** Polls the wiki's API (in its own tab) until `check(info)` holds. */
async function expectWiki(page, what, check) {
  const tab = await page.context().newPage();
  try {
    const info = await waitFor(
      tab,
      async () => {
        const info = await siteinfo(tab);
        return { ...info, extensions: info.extensions.length, done: check(info) };
      },
      { timeoutMs: 30_000, what },
    );
    log(`  the wiki says: ${JSON.stringify(info)}`);
  } finally {
    await tab.close();
  }
}

/** The settings form's values as the page shows them. */
async function formValues(page) {
  const form = page.locator('form#settings');
  return {
    revision: Number(await textOf(page, '#settings-revision')),
    base: Number(await form.locator('[name=base_revision]').inputValue()),
    sitename: await form.locator('[name=sitename]').inputValue(),
    timezone: await form.locator('[name=timezone]').inputValue(),
    extension: await page.locator(`#ext-${EXTENSION}`).isChecked(),
  };
}

async function submitSettings(page) {
  return navigation(page, () => page.locator('#settings-submit').click());
}

/** The preview's address, whether it is the wiki's own logo, and whether the image loaded. */
async function preview(page) {
  const img = page.locator('img#logo-preview');
  return {
    src: await img.getAttribute('src'),
    custom: await img.getAttribute('data-custom'),
    width: await img.evaluate((el) => (el.complete ? el.naturalWidth : 0)),
  };
}

async function expectPreviewLoaded(page, what) {
  return waitFor(page, async () => {
    const seen = await preview(page);
    return { ...seen, src: (seen.src || '').slice(0, 120), done: seen.width > 0 };
  }, { timeoutMs: 15_000, what });
}

await run(async () => {
  const page = await newPage();

  await step('the owner signs up, creates a wiki and waits for it', async () => {
    await newMember(page, OWNER);
    await goto(page, '/wikis/new');
    await fillCreateForm(page, { name: NAME, sitename: SITENAME });
    await expectNameCheck(page, 'ok');
    await submitCreate(page);
    assert.equal(pathOf(page), `/wikis/${NAME}`, 'after creating');
    await waitWikiActive(page, NAME);
  });

  await step('the wiki page links its settings', async () => {
    const link = page.locator('a#wiki-settings');
    assert.equal(await link.count(), 1, 'a#wiki-settings on the wiki page');
    await navigation(page, () => link.click());
    assert.equal(pathOf(page), settingsPath, 'the settings link');
    const values = await formValues(page);
    log(`  ${JSON.stringify(values)}`);
    assert.equal(values.sitename, SITENAME, 'the site name field');
    assert.equal(values.extension, true, `${EXTENSION} is on in a new wiki`);
    assert.equal(values.revision, values.base, 'base_revision is the shown revision');
    for (const section of ['basics', 'look', 'access', 'features', 'extensions', 'skins']) {
      assert.equal(await page.locator(`section#${section}`).count(), 1, `section#${section}`);
    }
    const unavailable = await page.locator('.toggles li.unavailable input[disabled]').count();
    log(`  ${await page.locator('.toggles li').count()} toggles, ${unavailable} unavailable (disabled)`);
    const quota = page.locator('#upload_quota_mb');
    assert.equal(await quota.getAttribute('readonly'), '', 'the upload quota is read-only for the owner');
    assert.equal(await quota.getAttribute('name'), null, 'a read-only quota is not sent');
    await expectPreviewLoaded(page, 'the farm logo in the preview');
    assert.equal((await preview(page)).custom, 'false', 'no logo of its own yet');
    assert.includes((await preview(page)).src, `${wikiUrl()}farm-assets/farm-logo.`, 'the farm logo from the wiki');
    await screenshot(page, 'settings');
  });

  await step('a site name MediaWiki cannot take is refused, and what was typed stays', async () => {
    const form = page.locator('form#settings');
    await form.locator('[name=sitename]').fill('Bad <name>');
    await submitSettings(page);
    assert.includes(await errorCodes(page), 'sitename_invalid_characters', 'the error code');
    assert.equal(await form.locator('[name=sitename]').inputValue(), 'Bad <name>', 'the typed name, escaped back');
    await goto(page, settingsPath);
  });

  await step('changing the site name and turning Poem off is one change', async () => {
    const before = await formValues(page);
    const form = page.locator('form#settings');
    await form.locator('[name=sitename]').fill(NEW_SITENAME);
    await page.locator(`#ext-${EXTENSION}`).uncheck();
    await submitSettings(page);
    assert.equal(pathOf(page), settingsPath, 'back on the settings page');
    assert.equal((await errorCodes(page)).length, 0, `errors: ${JSON.stringify(await errorCodes(page))}`);
    assert((await page.locator('#settings-notice').count()) === 1, 'a notice after saving');
    const after = await formValues(page);
    log(`  ${JSON.stringify(after)}`);
    assert.equal(after.revision, before.revision + 1, 'one new revision');
    assert.equal(after.sitename, NEW_SITENAME, 'the new site name');
    assert.equal(after.extension, false, `${EXTENSION} is off`);
    assert.includes(await page.title(), NEW_SITENAME, 'the page title, unescaped once');
  });

  await step('the wiki itself has the new site name and no Poem', async () => {
    await expectWiki(page, 'the new site name in siteinfo', (info) =>
      info.sitename === NEW_SITENAME && !info.extensions.includes(EXTENSION) && info.extensions.length > 0);
  });

  await step('a logo is previewed when chosen and shown once uploaded', async () => {
    await goto(page, settingsPath);
    const before = await preview(page);
    await page.locator('#logo-file').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: PNG });
    await waitFor(page, async () => {
      const seen = await preview(page);
      return { src: (seen.src || '').slice(0, 40), done: (seen.src || '').startsWith('data:image/png') };
    }, { timeoutMs: 10_000, what: 'the local preview of the chosen file' });
    await navigation(page, () => page.locator('#logo-submit').click());
    assert.equal(pathOf(page), settingsPath, 'back on the settings page');
    assert.equal((await errorCodes(page)).length, 0, `errors: ${JSON.stringify(await errorCodes(page))}`);
    const after = await expectPreviewLoaded(page, 'the uploaded logo in the preview');
    log(`  preview ${before.src} -> ${after.src}`);
    assert.notEqual(after.src, before.src, 'the preview changed');
    assert.match(after.src, /\/farm-assets\/logo-[0-9a-f]{16}\.png$/, 'the wiki serves the uploaded logo');
    assert.equal(after.custom, 'true', 'the wiki has its own logo');
    assert.equal(after.width, 32, 'the uploaded image itself');
    await screenshot(page, 'settings-logo');
  });

  await step('without JavaScript, a second session changes the time zone: the first form is stale', async () => {
    const stale = await formValues(page);
    const other = await newPage({ javaScriptEnabled: false });
    await logIn(other, OWNER);
    await goto(other, settingsPath);
    await other.locator('form#settings [name=timezone]').fill('Europe/Berlin');
    await submitSettings(other);
    assert.equal((await errorCodes(other)).length, 0, `errors without JavaScript: ${JSON.stringify(await errorCodes(other))}`);
    const saved = await formValues(other);
    assert.equal(saved.timezone, 'Europe/Berlin', 'saved without JavaScript');
    assert.equal(saved.revision, stale.revision + 1, 'a revision from the other session');
    await other.context().close();

    await page.locator('form#settings [name=sitename]').fill('Lost change');
    const response = await submitSettings(page);
    assert.equal(response.status(), 409, 'a stale form');
    assert.includes(await errorCodes(page), 'conflict', 'the error code');
    const fresh = await formValues(page);
    log(`  after the conflict: ${JSON.stringify(fresh)}`);
    assert.equal(fresh.revision, saved.revision, 'the current revision');
    assert.equal(fresh.base, saved.revision, 'a fresh base_revision');
    assert.equal(fresh.sitename, NEW_SITENAME, 'the fresh site name, not the lost change');
    assert.equal(fresh.timezone, 'Europe/Berlin', 'the other session\'s time zone');
    await screenshot(page, 'settings-conflict');
  });

  await step('the history shows each change with old and new values', async () => {
    await goto(page, settingsPath);
    await navigation(page, () => page.locator('a#settings-history-link').click());
    assert.equal(pathOf(page), `${settingsPath}/history`, 'the history link');
    const revisions = await page.locator('ol#revisions > li').evaluateAll((items) => items.map((li) => Number(li.dataset.revision)));
    log(`  revisions ${JSON.stringify(revisions)}`);
    assert.equal(JSON.stringify(revisions), JSON.stringify([4, 3, 2, 1]), 'newest first');
    const second = page.locator('li[data-revision="2"]');
    const sitename = second.locator('li[data-setting="sitename"]');
    assert.equal(await sitename.locator('.old').textContent(), SITENAME, 'the old site name');
    assert.equal(await sitename.locator('.new').textContent(), NEW_SITENAME, 'the new site name');
    assert.includes(await second.locator('.disabled').textContent(), EXTENSION, 'Poem turned off');
    assert.includes(await second.locator('.who').textContent(), OWNER, 'who changed it');
    assert.equal(await page.locator('li[data-revision="3"] li[data-setting="logo"]').count(), 1, 'the logo revision');
    const zone = page.locator('li[data-revision="4"] li[data-setting="timezone"] .new');
    assert.equal(await zone.textContent(), 'Europe/Berlin', 'the time zone revision');
    assert.equal(await page.locator('li[data-revision="4"] form.restore').count(), 0, 'no restore button on the current revision');
    await screenshot(page, 'settings-history');
  });

  await step('"Restore this revision" on revision 1 brings the first settings back', async () => {
    const restore = page.locator('li[data-revision="1"] form.restore button');
    assert.equal(await restore.count(), 1, 'a restore button on revision 1');
    await navigation(page, () => restore.click());
    assert.equal(pathOf(page), settingsPath, 'back on the settings page');
    assert.equal((await errorCodes(page)).length, 0, `errors: ${JSON.stringify(await errorCodes(page))}`);
    const values = await formValues(page);
    log(`  ${JSON.stringify(values)}`);
    assert.equal(values.revision, 5, 'the restore is a new revision');
    assert.equal(values.sitename, SITENAME, 'the first site name');
    assert.equal(values.extension, true, `${EXTENSION} is on again`);
    assert.notEqual(values.timezone, 'Europe/Berlin', 'the first time zone');
    assert.equal((await preview(page)).custom, 'false', 'the farm logo again');
    await goto(page, `${settingsPath}/history`);
    assert.includes(await page.locator('li[data-revision="5"] .restored').textContent(), '1', 'revision 5 restores 1');
  });

  await step('the wiki itself has its first site name again', async () => {
    await expectWiki(page, 'the first site name in siteinfo', (info) =>
      info.sitename === SITENAME && info.extensions.includes(EXTENSION));
  });
});
