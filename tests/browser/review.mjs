// Review mode: a member requests a wiki; a reviewer (own browser context) asks for more
// details from /review; the member answers on /requests/{id}; the reviewer approves; the
// member sees the wiki active. An admin looks at /admin.
// Env: BASE_URL, MAILDIR, SCREENSHOTS, REVIEWER_LOGIN, REVIEWER_PASSWORD, ADMIN_LOGIN, ADMIN_PASSWORD.

import { assert, env, goto, log, navigation, newPage, readMail, run, screenshot, step, textOf } from './lib.mjs';
import {
  createForm,
  errorCodes,
  expectNameCheck,
  fillCreateForm,
  logIn,
  newMember,
  normalized,
  pathOf,
  requireOne,
  submitButton,
  submitCreate,
  waitWikiActive,
} from './portal.mjs';

const NAME = 'mia-class';
const SITENAME = "Mia's class";
const QUESTION = 'Which school is this for?';
const ANSWER = 'Hill School, class 7B';

/** The request's state and history on /requests/{id}. */
async function requestStatus(page) {
  const history = [];
  for (const item of await page.locator('ol#history li').all()) {
    history.push(((await item.textContent()) || '').replace(/\s+/g, ' ').trim());
  }
  return { state: normalized(await textOf(page, '#request-state')), history };
}

/** On /review: the queue row of request `id`. */
async function queueRow(page, id) {
  await goto(page, '/review');
  assert((await page.locator('table#queue').count()) === 1, 'no table#queue on /review');
  const row = page.locator(`table#queue tr[data-request-id="${id}"]`);
  assert((await row.count()) === 1, `no row for request ${id} in table#queue`);
  return row;
}

/** On /review: decides request `id` with the row's button, after writing `comment`. */
async function decide(page, id, decision, comment) {
  const row = await queueRow(page, id);
  if (comment) await row.locator('textarea[name=comment]').fill(comment);
  const button = row.locator(`button[name=decision][value="${decision}"]`);
  assert((await button.count()) === 1, `no ${decision} button in the row of request ${id}`);
  await navigation(page, () => button.click());
  const codes = await errorCodes(page);
  assert(codes.length === 0, `${decision} refused: ${JSON.stringify(codes)}`);
}

await run(async () => {
  const member = await newPage();
  const reviewer = await newPage();
  let id;

  await step('a member signs up, confirms and logs in', async () => {
    await newMember(member, 'mia');
  });

  await step('the member requests a wiki', async () => {
    await goto(member, '/wikis/new');
    await fillCreateForm(member, {
      name: NAME,
      sitename: SITENAME,
      purpose: 'Class notes',
      reason: 'Our class needs a place for its notes',
    });
    await expectNameCheck(member, 'ok');
    assert((await createForm(member).locator('textarea[name=purpose]').count()) === 1, 'no purpose field');
    await screenshot(member, 'request-form');
    await submitCreate(member);
    const match = pathOf(member).match(/^\/requests\/([^/]+)$/);
    assert(match, `after requesting, expected /requests/{id}, at ${member.url()}`);
    id = decodeURIComponent(match[1]);
    const status = await requestStatus(member);
    assert.equal(status.state, 'pending', '#request-state of a new request');
    assert(status.history.length >= 1, 'ol#history is empty');
    await readMail(env('MAILDIR'), 'mia@example.org', 'was received');
    await screenshot(member, 'request-pending');
  });

  await step('the reviewer finds it in the queue and asks for details', async () => {
    await logIn(reviewer, env('REVIEWER_LOGIN'), env('REVIEWER_PASSWORD'));
    const row = await queueRow(reviewer, id);
    assert.includes(await row.textContent(), NAME, `the queue row of request ${id}`);
    await screenshot(reviewer, 'review-queue');
    await decide(reviewer, id, 'needs-more-info', QUESTION);
  });

  await step('the member reads the question and answers it', async () => {
    await readMail(env('MAILDIR'), 'mia@example.org', 'needs more details');
    await goto(member, `/requests/${encodeURIComponent(id)}`);
    let status = await requestStatus(member);
    assert.equal(status.state, 'needs-more-info', '#request-state after the question');
    assert.includes(status.history.join('\n'), QUESTION, 'ol#history');
    const form = await requireOne(member, 'form#comment');
    await form.locator('textarea[name=comment]').fill(ANSWER);
    await navigation(member, () => submitButton(form).click());
    if (pathOf(member) !== `/requests/${id}`) await goto(member, `/requests/${encodeURIComponent(id)}`);
    status = await requestStatus(member);
    assert.equal(status.state, 'pending', '#request-state after answering');
    assert.includes(status.history.join('\n'), ANSWER, 'ol#history');
    await screenshot(member, 'request-answered');
  });

  await step('the reviewer approves', async () => {
    await decide(reviewer, id, 'approve', 'Welcome!');
    await goto(reviewer, `/requests/${encodeURIComponent(id)}`);
    log(`  reviewer sees the request as ${JSON.stringify(await textOf(reviewer, '#request-state'))}`);
    await screenshot(reviewer, 'request-reviewer');
  });

  await step('the member sees the request approved and the wiki active', async () => {
    await readMail(env('MAILDIR'), 'mia@example.org', 'was approved');
    await goto(member, `/requests/${encodeURIComponent(id)}`);
    const status = await requestStatus(member);
    assert.equal(status.state, 'approved', '#request-state after approval');
    await screenshot(member, 'request-approved');
    await goto(member, `/wikis/${NAME}`);
    await waitWikiActive(member, NAME);
    await screenshot(member, 'review-wiki');
  });

  await step('an admin sees the farm on /admin', async () => {
    const admin = await newPage();
    await logIn(admin, env('ADMIN_LOGIN'), env('ADMIN_PASSWORD'));
    const response = await goto(admin, '/admin');
    assert.equal(response.status(), 200, 'status of /admin');
    for (const section of ['#wikis-by-state', '#servers', '#pool', '#audit']) {
      assert((await admin.locator(section).count()) === 1, `no ${section} on /admin`);
    }
    assert.match(await textOf(admin, '#wikis-by-state'), /active/i, '#wikis-by-state');
    await screenshot(admin, 'admin');
  });

  await step('a member sees neither the queue nor the admin page', async () => {
    for (const [path, content] of [['/review', 'table#queue'], ['/admin', '#audit']]) {
      const response = await goto(member, path);
      const shown = response.status() < 400 && (await member.locator(content).count()) > 0;
      assert(!shown, `a member got ${content} on ${path} (status ${response.status()})`);
    }
  });
});
