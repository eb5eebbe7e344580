// Smoke test of the pipeline: Chromium starts, reaches the farm on localhost, works with and
// without JavaScript, resolves NAME.localhost to loopback, takes screenshots, and the farm's
// mail arrives in the Maildir with a link that opens in the browser.
// Env: BASE_URL, MAILDIR, SCREENSHOTS; optional FARM_NAME (expected in the home page's title).

import { assert, env, goto, linkIn, newPage, readMail, run, screenshot, step, textOf } from './lib.mjs';

const PASSWORD = 'correct horse battery';

await run(async () => {
  const base = new URL(env('BASE_URL'));
  const page = await newPage();

  await step('the home page answers and has a title', async () => {
    const response = await goto(page, '/');
    assert.equal(response.status(), 200, 'status of /');
    const title = await page.title();
    assert(title.trim().length > 0, 'the home page has an empty <title>');
    if (process.env.FARM_NAME) assert.includes(title, process.env.FARM_NAME, 'title of /');
    assert((await textOf(page, 'h1')) !== null, 'the home page has no <h1>');
    await screenshot(page, 'home');
  });

  await step('pages work without JavaScript', async () => {
    const plain = await newPage({ javaScriptEnabled: false });
    const response = await goto(plain, '/');
    assert.equal(response.status(), 200, 'status of / without JavaScript');
    const h1 = await textOf(plain, 'h1');
    assert(h1 && h1.length > 0, 'no <h1> text without JavaScript');
    await plain.context().close();
  });

  await step('NAME.localhost reaches the farm (the wikis live there)', async () => {
    const response = await goto(page, `${base.protocol}//smoke-no-such-wiki.${base.hostname}:${base.port}/`);
    assert(response !== null, 'no response from a *.localhost address');
    assert(response.status() < 600, 'an HTTP status from the farm');
    await goto(page, '/');
  });

  await step('a sign-up sends mail whose link opens in the browser', async () => {
    const status = await page.evaluate(
      async (password) => {
        const response = await fetch('/api/v1/accounts', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ username: 'smoke', email: 'smoke@example.org', password }),
        });
        return response.status;
      },
      PASSWORD,
    );
    assert.equal(status, 201, 'POST /api/v1/accounts');
    const mail = await readMail(env('MAILDIR'), 'smoke@example.org', 'Confirm your email');
    const link = linkIn(mail, '/confirm-email?token=');
    assert.equal(new URL(link).host, base.host, `host of the link ${link}`);
    const response = await goto(page, link);
    assert.equal(response.status(), 200, 'status of the confirmation link');
    assert.match(await page.locator('body').innerText(), /confirmed/i, 'the confirmation page');
    await screenshot(page, 'confirm-email');
  });
});
