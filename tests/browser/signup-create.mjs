// Open mode, with JavaScript: sign up → confirmation mail → link → log in → create a wiki
// (live name check) → watch it become active → open it: MediaWiki's Main Page carries the
// site name. Then "my wikis" lists it, and the language switch changes the create page.
// Env: BASE_URL, MAILDIR, SCREENSHOTS.

import { assert, currentPath, goto, log, newPage, run, screenshot, step } from './lib.mjs';
import {
  createButtonText,
  expectNameCheck,
  fillCreateForm,
  followLink,
  hasWikiRow,
  myWikis,
  newMember,
  pathOf,
  submitCreate,
  switchLanguage,
  waitWikiActive,
} from './portal.mjs';

const NAME = 'ada-notes';
const SITENAME = "Ada's notes";

await run(async () => {
  const page = await newPage();

  await step('sign up, confirm by the mailed link, log in', async () => {
    await newMember(page, 'ada', { shots: true });
  });

  await step('the create form checks the name while typing', async () => {
    await goto(page, '/wikis/new');
    await fillCreateForm(page, { name: NAME, sitename: SITENAME });
    await expectNameCheck(page, 'ok');
    await screenshot(page, 'create');
  });

  await step('creating goes to the wiki page', async () => {
    await submitCreate(page);
    assert.equal(pathOf(page), `/wikis/${NAME}`, 'after creating');
  });

  await step('the wiki page shows the wiki becoming active', async () => {
    await waitWikiActive(page, NAME);
    await screenshot(page, 'wiki');
  });

  await step('"open wiki" opens MediaWiki with the site name', async () => {
    const wiki = await followLink(page, page.locator('a#open-wiki'));
    const title = await wiki.title();
    log(`  wiki title: ${JSON.stringify(title)} at ${wiki.url()}`);
    assert.includes(title, SITENAME, 'the Main Page <title>');
    await screenshot(wiki, 'wiki-main-page');
    if (wiki !== page) await wiki.close();
  });

  await step('my wikis lists it', async () => {
    const { table, rows } = await myWikis(page);
    assert(table, 'no table#my-wikis on /wikis');
    assert(await hasWikiRow(page, NAME), `no row for ${NAME} in table#my-wikis: ${JSON.stringify(rows)}`);
    await screenshot(page, 'my-wikis');
  });

  await step('the navigation has links', async () => {
    const links = await page.locator('nav a').count();
    assert(links > 0, 'no links in <nav>');
  });

  await step('German changes the create page; English changes it back', async () => {
    await goto(page, '/wikis/new');
    const english = await createButtonText(page);
    assert(english.length > 0, 'the create button has no text');
    await switchLanguage(page, 'de');
    if (currentPath(page) !== '/wikis/new') await goto(page, '/wikis/new');
    const german = await createButtonText(page);
    log(`  button: ${JSON.stringify(english)} / ${JSON.stringify(german)}; <html lang=${await page.locator('html').getAttribute('lang')}>`);
    assert.notEqual(german, english, 'the create button text in German');
    await screenshot(page, 'create-de');
    await switchLanguage(page, 'en');
    if (currentPath(page) !== '/wikis/new') await goto(page, '/wikis/new');
    assert.equal(await createButtonText(page), english, 'the create button text back in English');
  });
});
