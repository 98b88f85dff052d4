// t/ui-roles.t: a developer of project webapp (not a system admin).
// No admin pages in the menu, and a clear refusal at their URLs (the API
// refuses too); in the project, push-level actions only; changing one's
// own password ends the session and the new one works.

import {
  env, finish, is, launch, login, ok, pageFetch, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.locator('[role=dialog]');

let failure = null;
try {
  await step('the developer logs in', async () => {
    await login(page, 'dev', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.locator('[data-test=projects] tr', { hasText: 'webapp' }).waitFor();
  });

  await step('no admin links, no admin badge, no default-password banner', async () => {
    is(await page.getByRole('link', { name: en('nav.users') }).count(), 0, 'no Users link');
    is(await page.getByRole('link', { name: en('nav.audit') }).count(), 0, 'no Audit logs link');
    is(await page.locator('.pill').count(), 0, 'no admin badge');
    is(await page.locator('.banner').count(), 0, 'no banner');
  });

  for (const path of ['/admin/users', '/admin/audit-logs']) {
    await step(`${path}: a clear refusal`, async () => {
      await page.goto(path);
      await page.getByRole('heading', { name: en('forbidden.title') }).waitFor();
      await waitText(page.locator('[role=alert]'), en('forbidden.admin'));
      is(await page.locator('[data-test=users], [data-test=logs]').count(), 0, 'nothing of the page');
    });
  }
  await shot(page, 'forbidden-en');

  await step('the API refuses the developer too', async () => {
    is((await pageFetch(page, '/api/v2.0/users')).status, 403, 'GET /users: 403');
    is((await pageFetch(page, '/api/v2.0/audit-logs')).status, 403, 'GET /audit-logs: 403');
  });

  await step('the project: role shown, members read only', async () => {
    await page.goto('/projects/webapp');
    await waitText(page.locator('.page-head'), en('projects.yourRole', { role: en('role.2') }));
    is(await page.getByRole('tab', { name: en('project.tab.logs') }).count(), 0,
      'no Logs tab (project admins only)');
    await page.goto('/projects/webapp/members');
    await waitText(page.locator('.toolbar'), en('members.readOnly'));
    is(await page.getByRole('button', { name: en('members.add') }).count(), 0, 'no Add member');
    is(await page.locator('[data-test=members] select').count(), 0, 'no role selects');
  });

  await step('the repository: may add tags, may not delete', async () => {
    await page.goto('/projects/webapp/repositories/app');
    const row = page.locator('[data-test=artifacts] tbody tr').first();
    await waitText(row.locator('.chip'), '1.0');
    ok(await row.locator('button', { hasText: en('tags.add') }).count() === 1, 'Add tag is there');
    is(await row.locator('.chip-x').count(), 0, 'no tag delete buttons');
    is(await row.getByRole('button', { name: en('common.delete') }).count(), 0, 'no artifact delete');
    is(await page.getByRole('button', { name: en('repo.editDescription') }).count(), 0, 'no description edit');
  });

  await step('a private project of others: refused in words', async () => {
    await page.goto('/projects/secret');
    await waitText(page.locator('[role=alert]'), en('project.error.403'));
  });

  await step('a project that does not exist: said so', async () => {
    await page.goto('/projects/nosuchproject');
    await waitText(page.locator('[role=alert]'), en('project.error.404'));
  });

  await step('a page that does not exist', async () => {
    await page.goto('/no/such/page');
    await page.getByRole('heading', { name: en('notFound.title') }).waitFor();
  });

  await step('change password: the old one must be right', async () => {
    await page.goto('/projects');
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitem', { name: en('menu.changePassword') }).click();
    await dialog().locator('input[name=old_password]').fill('Wrong1234');
    await dialog().locator('input[name=new_password]').fill('Newpass1234');
    await dialog().locator('input[name=new_password_again]').fill('Newpass1234');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await waitText(dialog().locator('[role=alert]'), en('password.error.403'));
  });

  await step('change password: then log in again with the new one', async () => {
    await dialog().locator('input[name=old_password]').fill('Passw0rd!');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await waitText(page.locator('[role=status]'), en('password.changedLogin'));
    await login(page, 'dev', 'Passw0rd!');
    await waitText(page.locator('[role=alert]'), en('login.error.401'));
    await login(page, 'dev', 'Newpass1234');
    await page.waitForURL(/\/projects$/);
  });

  await step('an ended session sends the page to the login', async () => {
    // the session ends on the server (logged out elsewhere, say)
    await pageFetch(page, '/c/log_out');
    // a private project, reached inside the app (no reload): the API
    // answers 401 and the page goes to the login
    await page.evaluate(() => {
      history.pushState(null, '', '/projects/webapp');
      window.dispatchEvent(new PopStateEvent('popstate'));
    });
    await waitText(page.locator('[role=status]'), en('login.expired'));
    await page.waitForURL(/\/login/);
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
