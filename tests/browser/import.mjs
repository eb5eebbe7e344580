// Importing a wiki with JavaScript: the import form posts itself by XMLHttpRequest and shows
// the upload's progress; a file that is no archive brings the form back in place with the
// error and what was typed (and the progress works again); a MediaWiki XML dump leads to the
// new wiki's page, which follows the import until the wiki is active and serves the imported
// page. Env: BASE_URL, MAILDIR, SCREENSHOTS. Wants policy = "open" and a fresh farm.

import { assert, baseUrl, goto, navigation, newPage, run, screenshot, step, waitFor } from './lib.mjs';
import { errorCodes, newMember, pathOf, requireOne, waitWikiActive } from './portal.mjs';

const OWNER = 'ivo';
const NAME = 'ivo-import';
const DUMP = Buffer.from(
  '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en"><page><title>Hello</title>' +
    '<ns>0</ns><id>1</id><revision><id>1</id><timestamp>2020-01-01T00:00:00Z</timestamp><contributor><username>Writer</username>' +
    '<id>7</id></contributor><model>wikitext</model><format>text/x-wiki</format><text xml:space="preserve">Imported text</text>' +
    '</revision></page></mediawiki>',
);

/** Fills the import form (already open) with a name, a site name and a file. */
async function fillImport(page, name, file) {
  const form = await requireOne(page, 'form#import-wiki');
  await form.locator('[name=name]').fill(name);
  await form.locator('[name=sitename]').fill(`Imported ${name}`);
  await form.locator('input[type=file][name=archive]').setInputFiles(file);
  return form;
}

/** Notes in `window.__importProgress` whether the progress box was shown (before a reply). */
async function watchProgress(page) {
  await page.evaluate(() => {
    window.__importProgress = false;
    const box = document.getElementById('import-progress');
    new MutationObserver(() => {
      if (!box.hidden) window.__importProgress = true;
    }).observe(box, { attributes: true });
  });
}

await run(async () => {
  const page = await newPage();

  await step('the owner signs up and finds the import from "My wikis" and the create page', async () => {
    await newMember(page, OWNER);
    assert.equal(await page.locator('a#import-link[href="/wikis/import"]').count(), 1, 'My wikis links the import');
    await goto(page, '/wikis/new');
    await navigation(page, () => page.locator('a#import-link').click());
    assert.equal(pathOf(page), '/wikis/import', 'the import link');
    await screenshot(page, 'import-form');
  });

  await step('a file that is no archive: the form again, in place, with the error and what was typed', async () => {
    const form = await fillImport(page, 'ivo-notes', {
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('just some notes'),
    });
    await watchProgress(page);
    await form.locator('button[type=submit]').click();
    await waitFor(page, async () => ({ codes: await errorCodes(page), done: (await errorCodes(page)).includes('archive_invalid') }), {
      timeoutMs: 30_000,
      what: 'the archive_invalid error',
    });
    assert.equal(pathOf(page), '/wikis/import', 'still the import form');
    assert.equal(await page.evaluate(() => window.__importProgress), true, 'the progress was shown');
    assert.equal(await page.locator('#name').inputValue(), 'ivo-notes', 'the name stays');
    assert.equal(await page.locator('#import-progress').isHidden(), true, 'the new form hides the progress');
    await screenshot(page, 'import-error');
  });

  await step('a MediaWiki XML dump: the wiki page follows the import until the wiki is active', async () => {
    const form = await fillImport(page, NAME, { name: 'dump.xml', mimeType: 'application/xml', buffer: DUMP });
    await navigation(page, () => form.locator('button[type=submit]').click());
    assert.equal(pathOf(page), `/wikis/${NAME}`, 'after the upload');
    await waitWikiActive(page, NAME);
    const base = new URL(baseUrl());
    const wiki = `${base.protocol}//${NAME}.${base.hostname}:${base.port}/index.php?title=Hello`;
    await goto(page, wiki);
    assert.includes(await page.content(), 'Imported text', 'the imported page');
    await screenshot(page, 'import-done');
  });
});
