// A wiki's own JavaScript attacks its visitors' portal sessions. The attacker owns a wiki of
// the farm; its MediaWiki:Common.js (put there by tests/portal.rs) sets cookies for the parent
// domain ("cookie tossing") and submits the portal's create, delete and login forms for
// whoever opens the wiki. The victim is logged in to the portal and opens it: nothing may
// change for her, and her own forms keep working afterwards.
//
// Needs a base domain that is not `localhost` (browsers refuse Domain=localhost cookies, which
// hides the attack): BASE_URL is http://farm.example.test:PORT, mapped to loopback through
// HOST_RESOLVER_RULES. Also: VICTIM_LOGIN (password PASSWORD), VICTIM_WIKI (one of hers),
// EVIL_WIKI_URL (the attacker's wiki).

import { assert, env, goto, log, navigation, newPage, run, screenshot, step, waitFor } from './lib.mjs';
import {
  fillCreateForm,
  hasWikiRow,
  logIn,
  myWikis,
  pathOf,
  requireOne,
  submitButton,
  submitCreate,
  waitWikiActive,
} from './portal.mjs';

run(async () => {
  const victim = env('VICTIM_LOGIN');
  const hers = env('VICTIM_WIKI');
  const evil = env('EVIL_WIKI_URL');
  const page = await newPage();

  await step('the victim logs in to the portal and sees her wiki', async () => {
    await logIn(page, victim);
    await myWikis(page);
    assert(await hasWikiRow(page, hers), `${hers} is hers`);
  });

  await step("she opens the attacker's wiki; its script tosses cookies and posts the portal's forms", async () => {
    const wiki = await page.context().newPage();
    const response = await wiki.goto(`${evil}index.php?title=Main_Page`);
    assert.equal(response.status(), 200, 'the wiki serves');
    const done = await waitFor(
      wiki,
      async () => {
        const state = await wiki.locator('body').getAttribute('data-farm-attack', { timeout: 2_000 });
        return { done: state === 'done', state };
      },
      { what: 'the attack script to finish', timeoutMs: 90_000 },
    );
    log(`  attack: ${done.state}; ${await wiki.locator('body').getAttribute('data-farm-attack-log')}`);
    const cookies = await page.context().cookies(new URL('/', env('BASE_URL')).href);
    const tossed = cookies.filter((c) => c.domain.startsWith('.'));
    log(`  cookies for the portal now: ${cookies.map((c) => `${c.name}@${c.domain}`).join(', ')}`);
    assert(tossed.length > 0, 'the script managed to toss cookies for the parent domain (else this tests nothing)');
    await wiki.close();
  });

  await step('nothing changed for her: same account, her wiki there, none made in her name', async () => {
    const { rows } = await myWikis(page);
    assert(await hasWikiRow(page, hers), `${hers} is still there: ${JSON.stringify(rows)}`);
    assert(!rows.some((row) => row.includes('stolen-wiki')), `no wiki made for her: ${JSON.stringify(rows)}`);
    const nav = await page.locator('nav').innerText();
    assert(nav.includes(victim) && !nav.includes('mallory'), `still logged in as ${victim}: ${nav}`);
  });

  await step('her own forms keep working: create a wiki', async () => {
    await goto(page, '/wikis/new');
    await fillCreateForm(page, { name: 'her-second', sitename: 'Her second wiki' });
    await submitCreate(page);
    assert.equal(pathOf(page), '/wikis/her-second', 'created');
    await waitWikiActive(page, 'her-second');
    await screenshot(page, 'after-cookie-tossing');
  });

  await step('delete it', async () => {
    const form = await requireOne(page, 'form.danger');
    await form.locator('[name=confirm]').check();
    await navigation(page, () => submitButton(form).click());
    assert.equal(pathOf(page), '/wikis/her-second');
    const state = await page.locator('#wiki-state').innerText();
    assert(/delet/i.test(state), `being deleted: ${state}`);
  });

  await step('log out and in again', async () => {
    const logout = page.locator('nav form[action="/logout"]');
    await navigation(page, () => logout.locator('button').click());
    assert.equal(pathOf(page), '/');
    await logIn(page, victim);
  });
});
