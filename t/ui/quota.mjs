// t/ui-quota.t: storage quotas in the UI.  The admin creates a project
// with a limit of 1 MiB from the New project form (amount and unit); the
// project list shows its bar with the usage the test pushed (amber past
// 85%: UI_USED set by the .t); the project's summary shows the same and
// its limit is edited to 2 MiB (green again), then to no limit.  A
// developer of it, no system admin, sees the bar but no limit field and
// no edit button.  The list in 中文.

import {
  env, finish, is, launch, login, ok, openDialog, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);

const { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.getByRole('dialog');
const bar = (name) => page.locator('[data-test=projects] tr', { hasText: name }).locator('[data-test=quota]');

const open = (locator) => openDialog(page, locator);

let failure = null;
try {
  await step('New project with a storage limit of 1 MiB', async () => {
    await login(page, 'admin', env.adminPassword);
    await page.waitForURL(/\/projects$/);
    await open(page.getByRole('button', { name: `+ ${en('projects.new')}` }).first());
    await dialog().locator('input[name=project_name]').fill('qui');
    ok(await dialog().locator('input[name=storage_amount]').isDisabled(), 'no amount until limited');
    await dialog().locator('input[name=storage_limited]').check();
    await dialog().locator('input[name=storage_amount]').fill('0');
    await waitText(dialog(), en('quota.amountRule'));
    ok(await dialog().getByRole('button', { name: en('common.create') }).isDisabled(), '0 is refused');
    await dialog().locator('input[name=storage_amount]').fill('1');
    await dialog().locator('select[name=storage_unit]').selectOption('MiB');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await page.waitForURL(/\/projects\/qui/);
    const r = await page.evaluate(() => fetch('/api/v2.0/projects/qui/summary').then((x) => x.json()));
    is(r.quota.hard.storage, 1048576, 'the API has 1 MiB');
  });

  await step('the list: the usage of the quota project, amber past 85%', async () => {
    await page.goto('/projects?name=quota-full');
    await bar('quota-full').waitFor();
    is(await bar('quota-full').getAttribute('data-level'), 'warn', 'amber');
    await waitText(bar('quota-full'), '1 MiB');
    const bg = await bar('quota-full').locator('.quota-fill')
      .evaluate((e) => getComputedStyle(e).backgroundColor);
    is(bg, 'rgb(217, 119, 6)', 'in the warning colour');
    await page.goto('/projects?name=qui');
    await bar('qui').waitFor();
    is(await bar('qui').getAttribute('data-level'), 'ok', 'an empty project: green');
  });

  await step('the summary: the bar, the limit edited', async () => {
    await page.goto('/projects/quota-full/summary');
    const q = page.locator('[data-test=summary] [data-test=quota]');
    await q.waitFor();
    is(await q.getAttribute('data-level'), 'warn', 'amber there too');
    await open(page.getByRole('button', { name: en('quota.edit') }));
    is(await dialog().locator('input[name=storage_amount]').inputValue(), '1', 'the limit read back');
    is(await dialog().locator('select[name=storage_unit]').inputValue(), 'MiB', 'in MiB');
    await dialog().locator('input[name=storage_amount]').fill('2');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.querySelector('[data-test=summary] [data-test=quota]')
      .getAttribute('data-level') === 'ok');
    await waitText(q, '2 MiB');
    await open(page.getByRole('button', { name: en('quota.edit') }));
    await dialog().locator('input[name=storage_limited]').uncheck();
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.querySelector('[data-test=summary] [data-test=quota]')
      .getAttribute('data-level') === 'none');
    const r = await page.evaluate(() => fetch('/api/v2.0/projects/quota-full/summary').then((x) => x.json()));
    is(r.quota.hard.storage, -1, 'the API has no limit');
  });

  await step('a developer: the bar, no limit to set', async () => {
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitem', { name: en('menu.logout') }).click();
    await page.waitForURL(/\/login/);
    await login(page, 'dev', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await bar('quota-full').waitFor();
    await open(page.getByRole('button', { name: `+ ${en('projects.new')}` }).first());
    is(await dialog().locator('input[name=storage_limited]').count(), 0, 'no limit field');
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
    await page.goto('/projects/quota-full/summary');
    await page.locator('[data-test=summary] [data-test=quota]').waitFor();
    is(await page.getByRole('button', { name: en('quota.edit') }).count(), 0, 'no edit button');
  });

  await step('中文', async () => {
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await page.goto('/projects');
    await page.locator('th', { hasText: zh('quota.storage') }).waitFor();
    await waitText(bar('quota-full'), '（不限制）');
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
