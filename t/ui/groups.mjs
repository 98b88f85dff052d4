// t/ui-groups.t: with auth_mode ldap_auth, Administration > Groups: a
// directory group found by search and added by its DN, renamed; another
// added by DN typed; then a project's Members tab: "Add group", the group
// made developer, listed as a group; a delete of a group.

import {
  env, finish, is, launch, login, ok, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const devsDn = process.env.UI_DEVS_DN;
const opsDn = process.env.UI_OPS_DN;
const project = process.env.UI_PROJECT;

let { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.getByRole('dialog');

// a dialog focuses its first field once shown: wait for that before
// typing elsewhere, or the focus moves under the typing
async function open(button) {
  await page.getByRole('button', { name: button }).click();
  await page.waitForFunction(() => {
    const d = document.querySelector('[role=dialog]');
    const first = d && d.querySelector('input, select, textarea, button.primary');
    return first && (first.disabled || d.contains(document.activeElement));
  });
}

let failure = null;
try {
  await step('admin logs in and opens Groups', async () => {
    await login(page, 'admin', env.adminPassword);
    await page.waitForURL(/\/projects$/);
    await page.getByRole('link', { name: en('nav.groups') }).click();
    await page.waitForURL(/\/admin\/groups$/);
    await page.getByRole('heading', { name: en('groups.title') }).waitFor();
    await waitText(page.locator('[data-test=empty]'), en('groups.none'));
  });

  await step('New group: found by a directory search, added by its DN', async () => {
    await open(en('groups.new'));
    await dialog().locator('input[name=group_search]').fill('devs');
    await dialog().getByRole('button', { name: en('groups.search') }).click();
    const hit = dialog().locator('[data-test=ldap-groups] button', { hasText: 'devs' });
    await hit.waitFor();
    await hit.click();
    is((await dialog().locator('input[name=ldap_group_dn]').inputValue()).toLowerCase(),
      devsDn.toLowerCase(), 'the DN filled in from the search');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await dialog().waitFor({ state: 'detached' });
    const row = page.locator('tr[data-group=devs]');
    await row.waitFor();
    await waitText(row, en('groups.typeLdap'));
  });

  await step('a DN the directory does not have is refused in words', async () => {
    await open(en('groups.new'));
    await dialog().locator('input[name=ldap_group_dn]').fill(`cn=nosuch,${devsDn.replace(/^cn=[^,]+,/, '')}`);
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await waitText(dialog().locator('.alert-error'), en('groups.save.error.400'));
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
  });

  await step('New group by a DN typed, then renamed', async () => {
    await open(en('groups.new'));
    await dialog().locator('input[name=ldap_group_dn]').fill(opsDn);
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await dialog().waitFor({ state: 'detached' });
    await page.locator('tr[data-group=ops]').waitFor();
    await open(en('groups.renameNamed', { name: 'ops' }));
    await dialog().locator('input[name=group_name]').fill('operators');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    await page.locator('tr[data-group=operators]').waitFor();
    is(await page.locator('tr[data-group=ops]').count(), 0, 'the old name is gone');
  });
  await shot(page, 'groups-en');

  await step('Members: "Add group" makes devs developer of the project', async () => {
    await page.goto(`/projects/${project}/members`);
    await open(en('members.addGroup'));
    await dialog().locator('input[name=group]').fill(devsDn);
    await dialog().locator('select[name=role]').selectOption('2');
    await dialog().getByRole('button', { name: en('members.addButton') }).click();
    await dialog().waitFor({ state: 'detached' });
    const row = page.locator('[data-test=members] tr', { hasText: 'devs' });
    await row.waitFor();
    await waitText(row, en('members.group'));
    is(await row.locator('select').inputValue(), '2', 'as developer');
  });

  await step('Members: a group by name, and an unknown one refused in words', async () => {
    await open(en('members.addGroup'));
    await dialog().locator('input[name=group]').fill('nosuchgroup');
    await dialog().getByRole('button', { name: en('members.addButton') }).click();
    await waitText(dialog().locator('.alert-error'), en('members.addGroup.error.404'));
    await dialog().locator('input[name=group]').fill('operators');
    await dialog().locator('select[name=role]').selectOption('3');
    await dialog().getByRole('button', { name: en('members.addButton') }).click();
    await dialog().waitFor({ state: 'detached' });
    const row = page.locator('[data-test=members] tr', { hasText: 'operators' });
    await row.waitFor();
    is(await row.locator('select').inputValue(), '3', 'operators as guest');
  });

  await step('delete a group: gone from the list', async () => {
    await page.getByRole('link', { name: en('nav.groups') }).click();
    await page.getByRole('button', { name: en('groups.deleteNamed', { name: 'operators' }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await dialog().waitFor({ state: 'detached' });
    await page.locator('tr[data-group=devs]').waitFor();
    /* the list is reloaded after the dialog closes: wait for the row to go */
    await page.locator('tr[data-group=operators]').waitFor({ state: 'detached' });
    is(await page.locator('tr[data-group=operators]').count(), 0, 'operators deleted');
  });

  await step('Groups in 中文', async () => {
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await page.getByRole('heading', { name: zh('groups.title') }).waitFor();
    await waitText(page.locator('table[data-test=groups] th'), zh('groups.dn'));
    await page.goto(`/projects/${project}/members`);
    await page.getByRole('button', { name: zh('members.addGroup') }).waitFor();
    ok(true, 'Add group in 中文');
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitemradio', { name: 'English' }).click();
  });
  await step('a directory user logs in to the UI: the project, as the group\'s developer', async () => {
    await ctx.close();
    ({ ctx, page, errors } = await launch({ locale: 'en-US' }));
    await login(page, 'alice', process.env.UI_ALICE_PW);
    await page.waitForURL(/\/projects$/);
    const row = page.locator('table[data-test=projects] tr', { hasText: project });
    await row.waitFor();
    await waitText(row.locator('td'), en('role.2'));
    ok(true, 'alice sees the project with the role of devs');
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
