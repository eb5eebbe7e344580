// Logging in through an OpenID provider in Chromium (run by tests/oidc.rs): the provider's
// button on the portal's login page, the provider's login form, back to the portal logged in;
// then a first login whose user name belongs to an existing account: the choice page, and
// linking the account with its farm password.
// Env: BASE_URL (the portal, http://localhost:PORT), PROVIDER_ID, CLASH_LOGIN, CLASH_PASSWORD.

import { assert, env, goto, navigation, newPage, run, screenshot, step, textOf } from './lib.mjs';

/** Clicks the provider's button and logs in there as `login`; returns the final response. */
async function logInAtProvider(page, login) {
  await goto(page, '/login');
  // The button's page moves on to the provider by itself (a meta refresh).
  await navigation(page, () => page.click(`#oidc-${env('PROVIDER_ID')}`));
  await page.waitForURL((u) => !u.href.startsWith(env('BASE_URL')));
  await page.waitForSelector('input[name=login]');
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'anything');
  return navigation(page, () => page.click('button[type=submit]'));
}

await run(async () => {
  const base = env('BASE_URL');

  await step('the login page has a button for the provider', async () => {
    const page = await newPage();
    await goto(page, '/login');
    const button = await textOf(page, `#oidc-${env('PROVIDER_ID')}`);
    assert.includes(button, 'Log in with', 'the button');
    await screenshot(page, 'login-providers');
    await page.context().close();
  });

  await step('a first login through the provider makes the account and logs in', async () => {
    const page = await newPage();
    const response = await logInAtProvider(page, 'olga');
    assert.equal(response.status(), 200, 'the page after the login');
    assert.equal(page.url(), `${base}/wikis`, 'back on the portal');
    assert.includes(await page.locator('header').innerText(), 'olga', 'logged in as olga');
    await page.context().close();
  });

  await step('a clash offers the choice, and the farm password links the account', async () => {
    const page = await newPage({ locale: 'de-DE' });
    await logInAtProvider(page, env('CLASH_LOGIN'));
    assert(page.url().startsWith(`${base}/login/oidc/`), `the choice is on the callback page: ${page.url()}`);
    assert.equal(await page.getAttribute('#choice-reason', 'data-reason'), 'email_taken', 'the reason (the address is the account\'s too)');
    await screenshot(page, 'login-choice');
    await page.fill('#link-password', env('CLASH_PASSWORD'));
    await navigation(page, () => page.click('#link-form button[type=submit]'));
    assert.equal(page.url(), `${base}/wikis`, 'logged in after linking');
    assert.includes(await page.locator('header').innerText(), env('CLASH_LOGIN'), 'as the existing account');
    await page.context().close();
  });
});
