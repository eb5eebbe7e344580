// Without JavaScript: sign up, confirm, log in and create a wiki through the plain forms; a
// bad name is refused with its code; the wiki page shows the wiki becoming active (it may
// refresh itself with <meta http-equiv=refresh>; the test reloads too).
// Env: BASE_URL, MAILDIR, SCREENSHOTS.

import { assert, goto, newPage, run, screenshot, step } from './lib.mjs';
import {
  errorCodes,
  fillCreateForm,
  hasWikiRow,
  myWikis,
  newMember,
  pathOf,
  submitCreate,
  waitWikiActive,
} from './portal.mjs';

const NAME = 'plain-wiki';
const SITENAME = 'Plain and simple';

await run(async () => {
  const page = await newPage({ javaScriptEnabled: false });

  await step('sign up, confirm and log in without JavaScript', async () => {
    await newMember(page, 'paul');
  });

  await step('a reserved name is refused by the plain form', async () => {
    await goto(page, '/wikis/new');
    await fillCreateForm(page, { name: 'www', sitename: SITENAME });
    await submitCreate(page);
    const codes = await errorCodes(page);
    assert.includes(codes, 'name_reserved', '.error[data-code] for "www"');
    await screenshot(page, 'nojs-create-refused');
  });

  await step('the plain form creates the wiki', async () => {
    await goto(page, '/wikis/new');
    await fillCreateForm(page, { name: NAME, sitename: SITENAME });
    await screenshot(page, 'nojs-create');
    await submitCreate(page);
    assert.equal(pathOf(page), `/wikis/${NAME}`, 'after creating');
  });

  await step('the wiki page shows it active', async () => {
    await waitWikiActive(page, NAME, { reloadEveryMs: 3_000 });
    await screenshot(page, 'nojs-wiki');
  });

  await step('my wikis lists it', async () => {
    const { table, rows } = await myWikis(page);
    assert(table, 'no table#my-wikis on /wikis');
    assert(await hasWikiRow(page, NAME), `no row for ${NAME}: ${JSON.stringify(rows)}`);
    await screenshot(page, 'nojs-my-wikis');
  });
});
