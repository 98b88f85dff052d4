// t/ui-robots.t: robot accounts in the UI.  A project administrator opens
// the project's Robot Accounts tab, creates a robot with pull and push,
// sees the secret once (copies it, downloads it as <name>.json), and never
// again after the dialog is closed or the page reloaded; refreshes the
// secret and disables the robot.  A maintainer sees the list read only.
// The system administrator creates a system robot under Administration,
// in Chinese.  The downloaded file goes to UI_TMP/robot.json for the Perl
// side, which logs in with it.

import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  env, finish, is, launch, ok, shot, step, text,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.locator('[role=dialog]');

async function login(user, pass) {
  await page.goto('/login');
  await page.fill('input[name=principal]', user);
  await page.fill('input[name=password]', pass);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/projects$/);
}

async function logout() {
  await page.click('[data-test=user-menu]');
  await page.getByRole('menuitem', { name: /Log out|退出/ }).click();
  await page.waitForURL(/\/login/);
}

let failure = null;
let first = '';
try {
  await step('the project admin opens the Robot Accounts tab', async () => {
    await login('pa', 'Passw0rd!');
    await page.goto('/projects/ci');
    await page.getByRole('tab', { name: en('project.tab.robots') }).click();
    await page.waitForURL(/\/projects\/ci\/robots$/);
    await page.locator('.empty', { hasText: en('robots.empty') }).waitFor();
  });

  await step('a new robot: name, duration, pull and push', async () => {
    await page.getByRole('button', { name: `+ ${en('robots.new')}` }).click();
    await dialog().locator('input[name=name]').fill('builder');
    await dialog().locator('input[name=description]').fill('the CI job');
    await dialog().locator('input[name=duration]').fill('7');
    ok(await dialog().locator('input[name=perm-pull]').isChecked(), 'pull is checked by default');
    await dialog().locator('input[name=perm-push]').check();
    ok(!(await dialog().locator('input[name=perm-delete]').isChecked()), 'delete is not');
    is(await dialog().locator('input[name=namespaces]').count(), 0, 'no project field in a project');
    await shot(page, 'robot-new-en');
    await dialog().getByRole('button', { name: en('common.create') }).click();
  });

  await step('the secret is shown once, with copy and download', async () => {
    await dialog().locator('[data-test=robot-secret]').waitFor();
    await page.getByText(en('robots.secretOnce')).waitFor();
    is(await dialog().locator('[data-test=robot-name]').innerText(), 'robot$ci+builder', 'the full name');
    first = (await dialog().locator('[data-test=robot-secret]').innerText()).trim();
    ok(/^[A-Za-z0-9]{32}$/.test(first), 'a 32-character secret');

    await dialog().getByRole('button', { name: en('robots.copySecret') }).click();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    is(clip, first, 'copy puts the secret on the clipboard');

    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      dialog().locator('[data-test=robot-download]').click(),
    ]);
    is(dl.suggestedFilename(), 'robot$ci+builder.json', 'download: <name>.json');
    const file = join(env.tmp, 'robot.json');
    await dl.saveAs(file);
    const j = JSON.parse(readFileSync(file, 'utf8'));
    ok(j.name === 'robot$ci+builder' && j.secret === first, 'download: the name and the secret');
    await shot(page, 'robot-secret-en');
  });

  await step('closed: the list shows the robot, and the secret is gone', async () => {
    await dialog().getByRole('button', { name: en('robots.secretDone') }).click();
    await dialog().waitFor({ state: 'detached' });
    const row = page.locator('[data-test=robots] tr[data-robot="robot$ci+builder"]');
    await row.waitFor();
    ok((await row.innerText()).includes('ci: pull, push'), 'its permissions');
    ok(!(await page.content()).includes(first), 'the secret is not in the page');
    await page.reload();
    await row.waitFor();
    ok(!(await page.content()).includes(first), 'nor after a reload');
    await shot(page, 'robots-en');
  });

  await step('refresh: a new secret, shown once', async () => {
    const row = page.locator('tr[data-robot="robot$ci+builder"]');
    await row.getByRole('button', { name: en('robots.refresh') }).click();
    await dialog().getByRole('button', { name: en('robots.refresh') }).click();
    await dialog().locator('[data-test=robot-secret]').waitFor();
    const second = (await dialog().locator('[data-test=robot-secret]').innerText()).trim();
    ok(/^[A-Za-z0-9]{32}$/.test(second) && second !== first, 'another secret');
    writeFileSync(join(env.tmp, 'robot.json'),
      JSON.stringify({ name: 'robot$ci+builder', secret: second, old: first }));
    await dialog().getByRole('button', { name: en('robots.secretDone') }).click();
    await dialog().waitFor({ state: 'detached' });
  });

  await step('disable and enable', async () => {
    const row = page.locator('tr[data-robot="robot$ci+builder"]');
    await row.getByRole('button', { name: en('robots.disable') }).click();
    await row.locator('.badge', { hasText: en('robots.disabled') }).waitFor();
    await row.getByRole('button', { name: en('robots.enable') }).click();
    await row.getByRole('button', { name: en('robots.disable') }).waitFor();
    is(await row.locator('.badge').count(), 0, 'enabled again');
  });

  await step('a maintainer sees the robots, read only', async () => {
    await logout();
    await login('maint', 'Passw0rd!');
    await page.goto('/projects/ci/robots');
    await page.locator('tr[data-robot="robot$ci+builder"]').waitFor();
    await page.getByText(en('robots.readOnly')).waitFor();
    is(await page.getByRole('button', { name: `+ ${en('robots.new')}` }).count(), 0, 'no New');
    is(await page.getByRole('button', { name: en('robots.refresh') }).count(), 0, 'no Refresh');
  });

  await step('the system admin, in Chinese: a system robot for every project', async () => {
    await logout();
    await login('admin', env.adminPassword);
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await page.getByRole('link', { name: zh('nav.robots') }).click();
    await page.waitForURL(/\/admin\/robots$/);
    await page.getByRole('heading', { name: zh('robots.systemTitle') }).waitFor();
    await page.getByRole('button', { name: `+ ${zh('robots.new')}` }).click();
    await dialog().locator('input[name=name]').fill('mirror');
    is(await dialog().locator('input[name=namespaces]').inputValue(), '*', 'every project by default');
    await dialog().locator('input[name=never]').check();
    await dialog().getByRole('button', { name: zh('common.create') }).click();
    await dialog().locator('[data-test=robot-secret]').waitFor();
    await page.getByText(zh('robots.secretOnce')).waitFor();
    is(await dialog().locator('[data-test=robot-name]').innerText(), 'robot$mirror', 'robot$<name>');
    await shot(page, 'robot-secret-zh');
    await dialog().getByRole('button', { name: zh('robots.secretDone') }).click();
    const row = page.locator('tr[data-robot="robot$mirror"]');
    await row.waitFor();
    ok((await row.innerText()).includes(zh('robots.allProjects')), 'on all projects');
    ok((await row.innerText()).includes(zh('robots.never')), 'never expires');
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
