// Bad wiki names: the live check on /wikis/new names the problem (data-code), the server says
// the same when the form is submitted anyway, and no wiki is made.
// Env: BASE_URL, MAILDIR, SCREENSHOTS.

import { assert, goto, log, newPage, run, screenshot, step } from './lib.mjs';
import {
  errorCodes,
  expectNameCheck,
  fillCreateForm,
  myWikis,
  newMember,
  submitCreateToServer,
} from './portal.mjs';

const CASES = [
  ['ab', 'name_too_short'],
  ['Bad_Name', 'name_invalid_characters'],
  ['www', 'name_reserved'],
  ['-edge', 'name_hyphen_edge'],
];

await run(async () => {
  const page = await newPage();

  await step('a member signs up, confirms and logs in', async () => {
    await newMember(page, 'nina');
  });

  for (const [name, code] of CASES) {
    await step(`${JSON.stringify(name)}: the live check says ${code}`, async () => {
      await goto(page, '/wikis/new');
      await fillCreateForm(page, { name, sitename: 'Not to be' });
      const seen = await expectNameCheck(page, 'error', code);
      log(`  #name-check: ${JSON.stringify(seen.text)}`);
      if (code === 'name_reserved') await screenshot(page, 'create-invalid-name');
    });

    await step(`${JSON.stringify(name)}: submitting anyway, the server says ${code}`, async () => {
      const response = await submitCreateToServer(page);
      const codes = await errorCodes(page);
      log(`  status ${response && response.status()}, .error codes ${JSON.stringify(codes)}`);
      assert.includes(codes, code, `.error[data-code] after submitting ${JSON.stringify(name)}`);
      assert(!/^\/wikis\/(?!new$)[^/]+$/.test(new URL(page.url()).pathname), `went on to a wiki page: ${page.url()}`);
      if (code === 'name_reserved') await screenshot(page, 'create-refused');
    });
  }

  await step('no wiki was made', async () => {
    const { rows } = await myWikis(page);
    const wikiRows = await page.locator('table#my-wikis tr:has(a[href*="/wikis/"]:not([href$="/wikis/new"]))').count();
    assert.equal(wikiRows, 0, `rows with a wiki link in table#my-wikis: ${JSON.stringify(rows)}`);
    for (const [name] of CASES) {
      const exact = rows.filter((row) => row.split(' ').includes(name) || row.split(' ').includes(name.toLowerCase()));
      assert.equal(exact.length, 0, `a row names ${JSON.stringify(name)}: ${JSON.stringify(exact)}`);
    }
  });
});
