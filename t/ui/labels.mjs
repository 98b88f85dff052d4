// t/ui-labels.t: labels in the UI.  Admin creates two global labels under
// Administration > Labels (name, color, description), edits one, deletes
// the other; a project label in the project's Labels tab; on the
// repository, both go on artifact v1 as chips in their colors; the list
// filtered by a label shows v1 alone; the global label is taken off, and
// the filter then finds nothing.  A developer sees the labels tab read
// only and adds and removes a label on an artifact.  The admin page in 中文.

import {
  env, finish, is, launch, login, ok, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const v1 = process.env.UI_V1;
const v2 = process.env.UI_V2;

const { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.getByRole('dialog');
const row = (digest) => page.locator(`[data-test=artifacts] tr[data-digest="${digest}"]`);
const chip = (digest, name) => row(digest).locator(`.label-chip[data-label="${name}"]`);

// a dialog focuses its first field once shown: wait for that before typing
async function open(locator) {
  await locator.click();
  await page.waitForFunction(() => {
    const d = document.querySelector('[role=dialog]');
    const first = d && d.querySelector('input, select, textarea, button.primary');
    return first && (first.disabled || d.contains(document.activeElement));
  });
}

async function newLabel(name, color, description) {
  await open(page.getByRole('button', { name: `+ ${en('labels.new')}` }));
  await dialog().locator('input[name=name]').fill(name);
  await dialog().locator('input[name=color]').fill(color);
  await dialog().locator('input[name=description]').fill(description);
  await dialog().getByRole('button', { name: en('common.create') }).click();
  await dialog().waitFor({ state: 'detached' });
  await page.locator(`tr[data-label-row="${name}"]`).waitFor();
}

async function addLabel(digest, name) {
  await open(row(digest).getByRole('button', { name: en('labels.addToNamed', { digest: digest.slice(0, 19) }) }));
  const value = await dialog().locator('select[name=label] option', { hasText: name }).getAttribute('value');
  await dialog().locator('select[name=label]').selectOption(value);
  await dialog().getByRole('button', { name: en('labels.add') }).click();
  await dialog().waitFor({ state: 'detached' });
  await chip(digest, name).waitFor();
}

let failure = null;
try {
  await step('Administration > Labels: two global labels', async () => {
    await login(page, 'admin', env.adminPassword);
    await page.waitForURL(/\/projects$/);
    await page.getByRole('link', { name: en('nav.labels') }).click();
    await page.waitForURL(/\/admin\/labels$/);
    await page.getByRole('heading', { name: en('labels.title') }).waitFor();
    await waitText(page.locator('[data-test=empty]'), en('labels.empty'));
    await newLabel('release', '#d4380d', 'ready');
    await newLabel('old', '#ffe58f', 'to go');
    const bg = await page.locator('tr[data-label-row=release] .label-chip')
      .evaluate((e) => getComputedStyle(e).backgroundColor);
    is(bg, 'rgb(212, 56, 13)', 'the chip in the label\'s color');
    const ink = await page.locator('tr[data-label-row=old] .label-chip')
      .evaluate((e) => getComputedStyle(e).color);
    is(ink, 'rgb(29, 35, 48)', 'dark text on a light label');
  });

  await step('edit: the form read back, the description changed', async () => {
    await open(page.getByRole('button', { name: en('labels.editNamed', { name: 'release' }) }));
    is(await dialog().locator('input[name=name]').inputValue(), 'release', 'its name');
    is(await dialog().locator('input[name=color]').inputValue(), '#d4380d', 'its color');
    is(await dialog().locator('input[name=description]').inputValue(), 'ready', 'its description');
    await dialog().locator('input[name=description]').fill('ready to ship');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    await waitText(page.locator('tr[data-label-row=release]'), 'ready to ship');
    await shot(page, 'labels-en');
  });

  await step('delete one', async () => {
    await page.getByRole('button', { name: en('labels.deleteNamed', { name: 'old' }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await page.locator('tr[data-label-row=old]').waitFor({ state: 'detached' });
  });

  await step('a duplicate name refused in words', async () => {
    await open(page.getByRole('button', { name: `+ ${en('labels.new')}` }));
    await dialog().locator('input[name=name]').fill('release');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await waitText(dialog().locator('.alert-error'), en('labels.save.error.409'));
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
  });

  await step('the project\'s Labels tab: a project label', async () => {
    await page.goto('/projects/lab');
    await page.getByRole('tab', { name: en('project.tab.labels') }).click();
    await page.waitForURL(/\/projects\/lab\/labels$/);
    await waitText(page.locator('[data-test=empty]'), en('labels.empty'));
    await newLabel('qa', '#389e0d', 'tested');
    is(await page.locator('tr[data-label-row=release]').count(), 0, 'no global label among them');
  });

  await step('on the repository: both labels put on v1', async () => {
    await page.goto('/projects/lab/repositories/app');
    await row(v1).waitFor();
    await addLabel(v1, 'release');
    await addLabel(v1, 'qa');
    const bg = await chip(v1, 'qa').evaluate((e) => getComputedStyle(e).backgroundColor);
    is(bg, 'rgb(56, 158, 13)', 'the chip in the project label\'s color');
    is(await row(v2).locator('.label-chip').count(), 0, 'v2 has none');
    await page.reload();
    await chip(v1, 'release').waitFor();
    ok(await chip(v1, 'qa').isVisible(), 'both after a reload');
    await shot(page, 'artifact-labels-en');
  });

  await step('the list filtered by a label: v1 alone', async () => {
    const value = await page.locator('select[name=label-filter] option', { hasText: 'release' }).getAttribute('value');
    await page.locator('select[name=label-filter]').selectOption(value);
    await page.waitForURL(new RegExp(`label=${value}`));
    await row(v2).waitFor({ state: 'detached' });
    is(await page.locator('[data-test=artifacts] tbody tr').count(), 1, 'one artifact');
    ok(await row(v1).isVisible(), 'v1');
    await page.reload();
    await row(v1).waitFor();
    is(await page.locator('[data-test=artifacts] tbody tr').count(), 1, 'the filter kept in the URL');
  });

  await step('the global label taken off: the filter finds nothing', async () => {
    await chip(v1, 'release').getByRole('button', { name: en('labels.removeNamed', { name: 'release' }) }).click();
    await waitText(page.locator('[data-test=empty]'), en('labels.noMatch'));
    await page.locator('select[name=label-filter]').selectOption('');
    await row(v2).waitFor();
    ok(await chip(v1, 'qa').isVisible(), 'the project label stays');
    is(await chip(v1, 'release').count(), 0, 'the global one is gone');
  });

  await step('a developer: labels read only, but put on and off artifacts', async () => {
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitem', { name: en('menu.logout') }).click();
    await page.waitForURL(/\/login/);
    await login(page, 'dev', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.goto('/projects/lab/labels');
    await page.locator('tr[data-label-row=qa]').waitFor();
    await page.getByText(en('labels.readOnly')).waitFor();
    is(await page.getByRole('button', { name: `+ ${en('labels.new')}` }).count(), 0, 'no New');
    is(await page.getByRole('link', { name: en('nav.labels') }).count(), 0, 'no Administration > Labels');
    await page.goto('/projects/lab/repositories/app');
    await row(v2).waitFor();
    await addLabel(v2, 'release');
    await chip(v2, 'release').getByRole('button', { name: en('labels.removeNamed', { name: 'release' }) }).click();
    await chip(v2, 'release').waitFor({ state: 'detached' });
  });

  await step('Administration > Labels in 中文', async () => {
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitem', { name: en('menu.logout') }).click();
    await page.waitForURL(/\/login/);
    await login(page, 'admin', env.adminPassword);
    await page.waitForURL(/\/projects$/);
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await page.getByRole('link', { name: zh('nav.labels') }).click();
    await page.getByRole('heading', { name: zh('labels.title') }).waitFor();
    await page.getByText(zh('labels.globalHint')).waitFor();
    await page.getByRole('button', { name: zh('labels.editNamed', { name: 'release' }) }).waitFor();
    await page.goto('/projects/lab/repositories/app');
    await row(v1).waitFor();
    await page.locator('th', { hasText: zh('labels.column') }).waitFor();
    await page.locator('select[name=label-filter] option', { hasText: zh('labels.filterAll') }).waitFor({ state: 'attached' });
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
