// Single sign-on, as a person sees it: log in once on the portal, open two wikis and be the
// same user on both, edit on both, log out on the portal and be logged out of both; then
// "Log in" on a wiki goes through the portal's login and back to the page.
//
// Needs a base domain that is not `localhost` (the portal's hint cookie is for the parent
// domain): BASE_URL is http://farm.example.test:PORT, mapped to loopback through
// HOST_RESOLVER_RULES. Also: LOGIN (password PASSWORD), EXPECTED_USER (its MediaWiki name),
// WIKI_URLS (space-separated, each ending in '/').

import { assert, env, goto, log, navigation, newPage, run, screenshot, step } from './lib.mjs';
import { logIn, PASSWORD } from './portal.mjs';

const userOn = (page) => page.evaluate(() => (window.mw ? mw.config.get('wgUserName') : 'no mw'));

/** Opens a page of a wiki and waits until the sign-on's round trip (if any) is back there. */
async function openOnWiki(page, wiki, path) {
  await goto(page, `${wiki}${path}`);
  await page.waitForURL((u) => u.href.startsWith(wiki) && !u.href.includes('FarmSignOn'), { timeout: 30_000 });
  await page.waitForLoadState('load');
  log(`  now on ${page.url()}`);
}

run(async () => {
  const login = env('LOGIN');
  const expected = env('EXPECTED_USER');
  const wikis = env('WIKI_URLS').split(' ');
  const page = await newPage();

  await step('log in once, on the portal', async () => {
    await logIn(page, login);
  });

  for (const [i, wiki] of wikis.entries()) {
    await step(`open wiki ${wiki}: logged in as ${expected} without a password`, async () => {
      await openOnWiki(page, wiki, 'index.php?title=Main_Page');
      assert(page.url().startsWith(wiki), `back on the wiki, not ${page.url()}`);
      assert(page.url().includes('Main_Page'), `on the page asked for: ${page.url()}`);
      assert.equal(await userOn(page), expected, `the user on ${wiki}`);
      await screenshot(page, `sign-on-wiki-${i}`);
    });
    await step(`edit on ${wiki} as ${expected}, from the page (the browser's own session)`, async () => {
      const text = `Edited by ${expected} on wiki ${i}.`;
      const result = await page.evaluate(async (text) => {
        await mw.loader.using('mediawiki.api');
        const answer = await new mw.Api().postWithToken('csrf', { action: 'edit', title: 'Signed on', text });
        return answer.edit.result;
      }, text);
      assert.equal(result, 'Success', 'the edit');
      await openOnWiki(page, wiki, 'index.php?title=Signed_on');
      const shown = await page.locator('#mw-content-text').innerText();
      assert(shown.includes(text), `the edit is saved: ${shown.slice(0, 200)}`);
      const history = await page.evaluate(async () => {
        const answer = await new mw.Api().get({ action: 'query', prop: 'revisions', titles: 'Signed on', formatversion: 2 });
        return answer.query.pages[0].revisions[0].user;
      });
      assert.equal(history, expected, 'the edit is by the signed-on user');
    });
  }

  await step('log out on the portal', async () => {
    await goto(page, '/wikis');
    await navigation(page, () => page.locator('form[action="/logout"] button').click());
  });

  for (const wiki of wikis) {
    await step(`${wiki} has logged out too`, async () => {
      await openOnWiki(page, wiki, 'index.php?title=Signed_on');
      assert.equal(await userOn(page), null, `nobody is logged in on ${wiki}`);
    });
  }

  await step('"Log in" on a wiki goes through the portal and back to the page', async () => {
    const wiki = wikis[0];
    await openOnWiki(page, wiki, 'index.php?title=Signed_on');
    // The skin's "Log in" (in Vector 2022 it may sit in a folded menu: follow its address).
    const link = page.locator('a[href*="Special:UserLogin"]').first();
    const href = await link.getAttribute('href');
    log(`  the wiki's login link: ${href}`);
    await goto(page, new URL(href, wiki).href);
    log(`  the login link led to ${page.url()}`);
    assert(new URL(page.url()).pathname === '/login', `the portal's login page: ${page.url()}`);
    await page.locator('form#login [name=login]').fill(login);
    await page.locator('form#login [name=password]').fill(PASSWORD);
    await navigation(page, () => page.locator('form#login button[type=submit]').click());
    await page.waitForURL((u) => u.href.startsWith(wiki) && u.href.includes('Signed_on'), { timeout: 30_000 });
    await page.waitForLoadState('load');
    assert.equal(await userOn(page), expected, 'logged in on the wiki, on the page they were on');
  });
});
