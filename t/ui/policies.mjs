// t/ui-policies.t: a project's Policy tab.  The maintainer makes an
// immutability rule for release-* (disables and enables it), a retention
// rule keeping the most recently pushed artifact of pol/keep, and a
// schedule; a dry run's task log names the old artifact as one it would
// remove and the API still lists both; Run now removes it (its log says
// so, the API lists one).  A developer reads the rules and changes
// nothing.  中文.

import {
  env, finish, is, launch, login, ok, pageFetch, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const OLD = process.env.UI_OLD;
const NEW = process.env.UI_NEW;

const { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.getByRole('dialog');
const immutable = () => page.locator('[data-test=immutable-rules] tr[data-tag="release-*"]');
const retention = () => page.locator('[data-test=retention-rules] tr[data-template=latestPushedK]');
const runRow = (dry) => page.locator(`[data-test=retention-executions] tr[data-dry-run=${dry}]`);

async function open(locator) {
  await locator.click();
  await page.waitForFunction(() => {
    const d = document.querySelector('[role=dialog]');
    const first = d && d.querySelector('input, select, textarea, button.primary');
    return first && (first.disabled || d.contains(document.activeElement));
  });
}

async function logout() {
  await page.click('[data-test=user-menu]');
  await page.getByRole('menuitem', { name: /Log out|退出/ }).click();
  await page.waitForURL(/\/login/);
}

async function keepDigests() {
  const r = await pageFetch(page, '/api/v2.0/projects/pol/repositories/keep/artifacts');
  return JSON.parse(r.body).map((a) => a.digest).sort();
}

// the run of dry (true/false) finished: its tasks, the one of pol/keep's log
async function runLog(dry) {
  await runRow(dry).and(page.locator('[data-status=Succeed]')).waitFor({ timeout: 60000 });
  await runRow(dry).getByRole('button', { name: en('retention.tasks') }).click();
  const task = page.locator('[data-test=retention-tasks] tr[data-repository$="keep"]');
  await task.getByRole('button', { name: en('retention.log') }).click();
  const log = dialog().locator('[data-test=task-log]');
  await log.waitFor();
  const s = await log.innerText();
  return s;
}

let failure = null;
try {
  await step('the maintainer opens the Policy tab', async () => {
    await login(page, 'pm', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.goto('/projects/pol');
    await page.getByRole('tab', { name: en('project.tab.policy') }).click();
    await page.waitForURL(/\/projects\/pol\/policy$/);
    await waitText(page.locator('[data-test=immutable] [data-test=empty]'), en('immutable.empty'));
    await waitText(page.locator('[data-test=retention] [data-test=empty]'), en('retention.empty'));
  });

  await step('an immutability rule for release-* in every repository', async () => {
    await open(page.getByRole('button', { name: `+ ${en('immutable.new')}`, exact: true }));
    is(await dialog().locator('input[name=repo_pattern]').inputValue(), '**', 'every repository at first');
    await dialog().locator('input[name=tag_pattern]').fill('');
    ok(await dialog().getByRole('button', { name: en('common.create') }).isDisabled(), 'a pattern is needed');
    await dialog().locator('input[name=tag_pattern]').fill('release-*');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await dialog().waitFor({ state: 'detached' });
    await immutable().waitFor();
    const t = await immutable().innerText();
    ok(t.includes(`${en('policy.deco.matches')} release-*`), 'the tag selector listed');
    ok(t.includes(`${en('policy.deco.matches')} **`), 'and the repository selector');
  });

  await step('disabled and enabled again; edit reads it back', async () => {
    await immutable().getByRole('button', { name: en('policy.disable') }).click();
    await immutable().locator('.badge', { hasText: en('policy.disabled') }).waitFor();
    await immutable().getByRole('button', { name: en('policy.enable') }).click();
    await immutable().getByRole('button', { name: en('policy.disable') }).waitFor();
    await open(immutable().getByRole('button', { name: en('common.edit') }));
    is(await dialog().locator('input[name=tag_pattern]').inputValue(), 'release-*', 'the pattern read back');
    is(await dialog().locator('select[name=tag_decoration]').inputValue(), 'matches', 'matching');
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
    await dialog().waitFor({ state: 'detached' });
  });

  await step('another rule made and deleted', async () => {
    await open(page.getByRole('button', { name: `+ ${en('immutable.new')}`, exact: true }));
    await dialog().locator('select[name=tag_decoration]').selectOption('excludes');
    await dialog().locator('input[name=tag_pattern]').fill('dev-*');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    const row = page.locator('[data-test=immutable-rules] tr[data-tag="dev-*"]');
    await waitText(row, `${en('policy.deco.excludes')} dev-*`);
    await row.getByRole('button', { name: en('common.delete') }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await row.waitFor({ state: 'detached' });
  });

  await step('a retention rule: the newest pushed artifact of keep', async () => {
    await open(page.getByRole('button', { name: `+ ${en('retention.newRule')}`, exact: true }));
    await dialog().locator('select[name=template]').selectOption('latestPushedK');
    await dialog().locator('input[name=count]').fill('x');
    await waitText(dialog().locator('.field-error'), en('retention.countRule'));
    await dialog().locator('input[name=count]').fill('1');
    await dialog().locator('input[name=repo_pattern]').fill('keep');
    await shot(page, 'policy-retention-rule-en');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await dialog().waitFor({ state: 'detached' });
    await waitText(retention(), en('retention.tpl.latestPushedK', { n: 1 }));
    await waitText(retention(), `${en('policy.deco.matches')} keep`);
    await waitText(page.locator('[data-test=retention-executions] [data-test=empty]'), en('retention.noRuns'));
    // the project names its new policy: away and back, still there
    await page.getByRole('tab', { name: en('project.tab.repositories') }).click();
    await page.waitForURL(/\/projects\/pol\/repositories$/);
    await page.getByRole('tab', { name: en('project.tab.policy') }).click();
    await waitText(retention(), `${en('policy.deco.matches')} keep`);
  });

  await step('a schedule: a cron, checked before sending', async () => {
    await open(page.locator('[data-test=retention-schedule]').getByRole('button', { name: en('common.edit') }));
    await dialog().locator('input[value=cron]').check();
    await dialog().locator('input[name=cron]').fill('every day');
    await waitText(dialog().locator('.field-error'), en('retention.cronRule'));
    await dialog().locator('input[name=cron]').fill('0 0 3 * * *');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    await waitText(page.locator('[data-test=retention-schedule]'), '0 0 3 * * *');
  });

  await step('retention rules: edit reads back, another added and deleted', async () => {
    await open(retention().getByRole('button', { name: en('common.edit') }));
    is(await dialog().locator('select[name=template]').inputValue(), 'latestPushedK', 'the template');
    is(await dialog().locator('input[name=count]').inputValue(), '1', 'its count');
    is(await dialog().locator('input[name=repo_pattern]').inputValue(), 'keep', 'the repositories');
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
    await dialog().waitFor({ state: 'detached' });
    await open(page.getByRole('button', { name: `+ ${en('retention.newRule')}`, exact: true }));
    await dialog().locator('select[name=template]').selectOption('always');
    is(await dialog().locator('input[name=count]').count(), 0, 'always takes no count');
    await dialog().locator('input[name=repo_pattern]').fill('scratch');
    await dialog().locator('input[name=untagged]').check();
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await dialog().waitFor({ state: 'detached' });
    const row = page.locator('[data-test=retention-rules] tr[data-template=always]');
    await waitText(row, en('retention.withUntagged'));
    await row.getByRole('button', { name: en('common.delete') }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await row.waitFor({ state: 'detached' });
    is(await page.locator('[data-test=retention-rules] tbody tr').count(), 1, 'one rule left');
    await waitText(page.locator('[data-test=retention-schedule]'), '0 0 3 * * *');
  });

  await step('a dry run names what it would remove and removes nothing', async () => {
    await page.getByRole('button', { name: en('retention.dryRunNow'), exact: true }).click();
    const log = await runLog(true);
    ok(log.includes('would remove') && log.includes(OLD), 'the old artifact would be removed', log);
    ok(!log.split('\n').some((l) => l.includes('remove') && l.includes(NEW)), 'not the new one', log);
    await shot(page, 'policy-dry-run-en');
    await dialog().getByRole('button', { name: en('retention.close') }).click();
    await dialog().waitFor({ state: 'detached' });
    is((await keepDigests()).length, 2, 'both artifacts still there');
  });

  await step('Run now removes it', async () => {
    await page.getByRole('button', { name: en('retention.runNow'), exact: true }).click();
    const log = await runLog(false);
    ok(/remove .*removed/.test(log) && log.includes(OLD), 'the log says the old one was removed', log);
    await dialog().getByRole('button', { name: en('retention.close') }).click();
    await dialog().waitFor({ state: 'detached' });
    is(JSON.stringify(await keepDigests()), JSON.stringify([NEW]), 'only the new artifact left');
  });

  await step('a developer reads the policies and changes nothing', async () => {
    await logout();
    await login(page, 'dev', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.goto('/projects/pol/policy');
    await immutable().waitFor();
    await retention().waitFor();
    await runRow(false).waitFor();
    is(await page.getByRole('button', { name: `+ ${en('immutable.new')}`, exact: true }).count(), 0, 'no Add rule');
    is(await page.getByRole('button', { name: `+ ${en('retention.newRule')}`, exact: true }).count(), 0,
      'no Add retention rule');
    is(await page.locator('[data-test=immutable], [data-test=retention]')
      .getByRole('button', { name: en('common.edit') }).count(), 0, 'no Edit');
    is(await page.getByRole('button', { name: en('retention.runNow'), exact: true }).count(), 0, 'no Run now');
    const r = await pageFetch(page, '/api/v2.0/projects/pol/immutabletagrules', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Harbor-CSRF-Token': await page.evaluate(() => decodeURIComponent(
          (document.cookie.match(/(?:^|; )__csrf=([^;]*)/) || [])[1] || '')),
      },
      body: JSON.stringify({
        tag_selectors: [{ kind: 'doublestar', decoration: 'matches', pattern: 'x' }],
        scope_selectors: { repository: [{ kind: 'doublestar', decoration: 'repoMatches', pattern: '**' }] },
      }),
    });
    is(r.status, 403, 'and the API refuses the developer too');
  });

  await step('the tab in 中文', async () => {
    await logout();
    await login(page, 'pm', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await page.goto('/projects/pol');
    await page.getByRole('tab', { name: zh('project.tab.policy') }).click();
    await page.getByRole('heading', { name: zh('immutable.title') }).waitFor();
    await waitText(immutable(), `${zh('policy.deco.matches')} release-*`);
    await waitText(retention(), zh('retention.tpl.latestPushedK', { n: 1 }));
    await runRow(false).locator('.badge', { hasText: zh('policy.status.Succeed') }).waitFor();
    await shot(page, 'policy-zh');
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
