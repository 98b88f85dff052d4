// t/ui-replication.t: Administration > Registries and Replications as
// admin.  A docker-registry endpoint added ("Test connection" ok), one at
// a closed port refused in words; a push-based rule to it; Replicate; the
// execution reaches Succeed with its task listed and its log readable;
// the endpoint cannot be deleted while the rule uses it (in words);
// the pages in 中文.

import {
  env, finish, is, launch, login, ok, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const dreg = process.env.UI_DREG_URL;
const closed = process.env.UI_CLOSED_URL;
const project = process.env.UI_PROJECT;

const { ctx, page, errors } = await launch({ locale: 'en-US' });

// the bodies the page sends to /registries*
const sent = [];
page.on('request', (r) => {
  if (/\/api\/v2\.0\/registries/.test(r.url()) && r.method() !== 'GET') {
    sent.push({ method: r.method(), path: new URL(r.url()).pathname, body: r.postDataJSON() });
  }
});

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
  await step('admin logs in and opens Registries from the menu', async () => {
    await login(page, 'admin', env.adminPassword);
    await page.waitForURL(/\/projects$/);
    await page.getByRole('link', { name: en('nav.registries') }).click();
    await page.waitForURL(/\/admin\/registries$/);
    await page.getByRole('heading', { name: en('registries.title') }).waitFor();
    await waitText(page.locator('[data-test=empty]'), en('registries.none'));
  });

  await step('New endpoint at a closed port: "Test connection" refused in words', async () => {
    await open(en('registries.new'));
    await dialog().locator('select[name=type]').selectOption('docker-registry');
    await dialog().locator('input[name=name]').fill('nowhere');
    await dialog().locator('input[name=url]').fill(closed);
    await dialog().getByRole('button', { name: en('registries.test') }).click();
    await waitText(dialog().locator('.alert-error'), en('registries.ping.error.400'));
    const p = sent.filter((s) => s.path.endsWith('/registries/ping')).at(-1);
    is(p && p.body.url, closed, 'the ping carries the form\'s URL');
    is(p && p.body.type, 'docker-registry', 'and its type');
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
  });

  await step('New endpoint: docker-registry, "Test connection" ok, created', async () => {
    await open(en('registries.new'));
    await dialog().locator('select[name=type] option[value=docker-registry]').waitFor({ state: 'attached' });
    const types = await dialog().locator('select[name=type] option').allTextContents();
    ok(types.includes(en('registries.type.docker-registry')) && types.includes(en('registries.type.harbor')),
      'the providers from /replication/adapters', types.join(', '));
    await dialog().locator('select[name=type]').selectOption('docker-registry');
    await dialog().locator('input[name=name]').fill('dreg');
    await dialog().locator('input[name=url]').fill(dreg);
    await dialog().getByRole('button', { name: en('registries.test') }).click();
    await waitText(dialog().locator('.alert-info'), en('registries.pingOk'));
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await dialog().waitFor({ state: 'detached' });
    const row = page.locator('tr[data-registry=dreg]');
    await row.waitFor();
    await waitText(row, dreg);
    await waitText(row, en('registries.type.docker-registry'));
    const c = sent.filter((s) => s.method === 'POST' && s.path.endsWith('/registries')).at(-1);
    ok(c && c.body.credential && !('access_secret' in c.body.credential),
      'no secret sent when none was typed', JSON.stringify(c && c.body));
  });
  await shot(page, 'registries-en');

  await step('Replications: a push-based rule to the endpoint', async () => {
    await page.getByRole('link', { name: en('nav.replications') }).click();
    await page.waitForURL(/\/admin\/replications$/);
    await waitText(page.locator('[data-test=empty]'), en('repl.none'));
    await open(en('repl.newRule'));
    const d = dialog();
    await d.locator('input[name=name]').fill('to-dreg');
    is(await d.locator('select[name=mode]').inputValue(), 'push', 'push-based by default');
    await d.locator('select[name=registry] option', { hasText: 'dreg' }).waitFor({ state: 'attached' });
    await d.locator('select[name=registry]').selectOption({ label: `dreg (${dreg})` });
    await d.locator('input[name=name_filter]').fill(`${project}/a*`);
    await d.locator('input[name=tag_filter]').fill('dev*');
    await d.locator('select[name=tag_decoration]').selectOption('excludes');
    await d.locator('input[name=speed]').fill('fast');
    await waitText(d.locator('.field-error'), en('repl.speedBad'));
    ok(await d.getByRole('button', { name: en('common.create') }).isDisabled(), 'a speed not a number blocks Create');
    await d.locator('input[name=speed]').fill('');
    await d.locator('select[name=trigger]').selectOption('scheduled');
    await d.locator('input[name=cron]').waitFor();
    await d.locator('select[name=trigger]').selectOption('manual');
    await d.getByRole('button', { name: en('common.create') }).click();
    await d.waitFor({ state: 'detached' });
    const row = page.locator('tr[data-rule=to-dreg]');
    await row.waitFor();
    await waitText(row, en('repl.mode.push'));
    await waitText(row, en('repl.local'));
    await waitText(row, 'dreg');
    await waitText(row, en('repl.trigger.manual'));
    await waitText(row, en('repl.on'));
  });

  await step('Edit the rule: the form holds what was saved', async () => {
    await page.getByRole('button', { name: en('repl.editNamed', { name: 'to-dreg' }) }).click();
    const d = dialog();
    is(await d.locator('input[name=name_filter]').inputValue(), `${project}/a*`, 'name filter');
    is(await d.locator('input[name=tag_filter]').inputValue(), 'dev*', 'tag filter');
    is(await d.locator('select[name=tag_decoration]').inputValue(), 'excludes', 'excludes');
    await d.getByRole('button', { name: en('common.cancel') }).click();
  });

  await step('disable: Replicate is off; enable again', async () => {
    const row = page.locator('tr[data-rule=to-dreg]');
    await row.getByRole('button', { name: en('repl.disable') }).click();
    await waitText(row, en('repl.off'));
    ok(await row.getByRole('button', { name: en('repl.replicateNamed', { name: 'to-dreg' }) }).isDisabled(),
      'a disabled rule cannot be replicated');
    await row.getByRole('button', { name: en('repl.enable') }).click();
    await waitText(row, en('repl.on'));
  });

  let execId = '';
  await step('Replicate: the execution reaches Succeed', async () => {
    await page.getByRole('button', { name: en('repl.replicateNamed', { name: 'to-dreg' }) }).click();
    await waitText(page.locator('.alert-info'), en('repl.started', { name: 'to-dreg' }));
    const ex = page.locator('[data-test=executions] tr[data-execution]').first();
    await ex.waitFor();
    execId = await ex.getAttribute('data-execution');
    // polled every 2 s while InProgress: no reload here
    await page.locator(`tr[data-execution="${execId}"][data-status=Succeed]`).waitFor({ timeout: 90000 });
    await waitText(page.locator(`tr[data-execution="${execId}"]`), en('repl.status.Succeed'));
    await waitText(page.locator(`tr[data-execution="${execId}"]`), en('repl.progressText', { done: 1, total: 1, failed: 0 }));
  });
  await shot(page, 'replications-en');

  await step('the execution: its task and the task\'s log', async () => {
    await page.getByRole('link', { name: `#${execId}` }).click();
    await page.waitForURL(new RegExp(`/admin/replications/executions/${execId}$`));
    await waitText(page.locator('[data-test=execution-status]'), en('repl.status.Succeed'));
    const task = page.locator(`[data-test=tasks] tr[data-task="${project}/app:v1"]`);
    await task.waitFor();
    is(await task.getAttribute('data-status'), 'Succeed', 'the task succeeded');
    is(await page.locator('[data-test=tasks] tr[data-task]').count(), 1, 'one task: dev1 excluded by the tag filter');
    await waitText(task, `${project}/app:v1`);
    await task.getByRole('button', { name: en('repl.logOf', { name: `${project}/app:v1` }) }).click();
    const log = dialog().locator('[data-test=task-log]');
    await log.waitFor();
    const s = await log.textContent();
    ok(s.trim().length > 0 && s.includes(`${project}/app:v1`), 'the log is there and names the tag', s);
    await dialog().getByRole('button', { name: en('repl.close') }).click();
  });

  await step('a slow rule (64 KB/s): the running execution shows bytes, and Stop stops it', async () => {
    await page.getByRole('link', { name: en('repl.back') }).click();
    await page.waitForURL(/\/admin\/replications/);
    await open(en('repl.newRule'));
    const d = dialog();
    await d.locator('input[name=name]').fill('slow');
    await d.locator('select[name=registry] option', { hasText: 'dreg' }).waitFor({ state: 'attached' });
    await d.locator('select[name=registry]').selectOption({ label: `dreg (${dreg})` });
    await d.locator('input[name=name_filter]').fill(`${project}/big`);
    await d.locator('input[name=speed]').fill('64');
    await d.getByRole('button', { name: en('common.create') }).click();
    await d.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: en('repl.replicateNamed', { name: 'slow' }) }).click();
    const ex = page.locator('[data-test=executions] tr[data-execution][data-status=InProgress]').first();
    await ex.waitFor();
    await ex.getByRole('link').click();
    await page.waitForURL(/\/admin\/replications\/executions\/\d+$/);
    const task = page.locator(`[data-test=tasks] tr[data-task="${project}/big:v1"][data-status=InProgress]`);
    await task.waitFor({ timeout: 30000 });
    // the polled page shows the bytes of the running copy grow
    const of = / of /;
    await page.locator('[data-test=execution] .progress-cell', { hasText: of }).waitFor({ timeout: 30000 });
    const first = await task.locator('td').nth(4).textContent();
    await page.waitForFunction(([sel, before]) => {
      const c = document.querySelector(sel);
      return c && c.textContent !== before;
    }, [`[data-test=tasks] tr[data-task="${project}/big:v1"] td:nth-child(5)`, first], { timeout: 30000 });
    ok(true, `the bytes of the task grow while it runs (${first})`);
    await page.getByRole('button', { name: en('repl.stop') }).click();
    await page.locator('[data-test=execution][data-status=Stopped]').waitFor({ timeout: 30000 });
    await waitText(page.locator('[data-test=execution-status]'), en('repl.status.Stopped'));
    await page.locator(`[data-test=tasks] tr[data-task="${project}/big:v1"][data-status=Stopped]`).waitFor();
    is(await page.getByRole('button', { name: en('repl.stop') }).count(), 0, 'no Stop once stopped');
  });

  await step('the slow rule at 512 KB/s to another namespace: the page follows the run to its end', async () => {
    await page.getByRole('link', { name: en('repl.back') }).click();
    await page.waitForURL(/\/admin\/replications/);
    await open(en('repl.editNamed', { name: 'slow' }));
    const d = dialog();
    await d.locator('input[name=speed]').fill('512');
    await d.locator('input[name=dest_namespace]').fill('again');
    await d.locator('select[name=replace_count]').selectOption('0');
    await d.getByRole('button', { name: en('common.save') }).click();
    await d.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: en('repl.replicateNamed', { name: 'slow' }) }).click();
    const ex = page.locator('[data-test=executions] tr[data-execution][data-status=InProgress]').first();
    await ex.waitFor();
    await ex.getByRole('link').click();
    await page.locator(`[data-test=tasks] tr[data-task="${project}/big:v1"][data-status=InProgress]`).waitFor({ timeout: 30000 });
    // no reload: the polling ends with the run, and the task's row with it
    await page.locator('[data-test=execution][data-status=Succeed]').waitFor({ timeout: 60000 });
    const task = page.locator(`[data-test=tasks] tr[data-task="${project}/big:v1"][data-status=Succeed]`);
    await task.waitFor({ timeout: 5000 });
    await waitText(task, `again/${project}/big:v1`);
  });

  await step('deleting the endpoint while the rule uses it is refused in words', async () => {
    await page.getByRole('link', { name: en('nav.registries') }).click();
    await page.getByRole('button', { name: en('registries.deleteNamed', { name: 'dreg' }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await waitText(dialog().locator('.alert-error'), en('registries.delete.error.412'));
    await waitText(dialog().locator('.alert-error'), 'to-dreg');
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
    await page.locator('tr[data-registry=dreg]').waitFor();
  });

  await step('edit the endpoint: the secret shows as unchanged, is sent only when typed', async () => {
    await open(en('registries.editNamed', { name: 'dreg' }));
    is(await dialog().locator('select[name=type]').isDisabled(), true, 'the type cannot change');
    await dialog().locator('input[name=description]').fill('the test registry');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    let u = sent.filter((s) => s.method === 'PUT').at(-1);
    ok(u && !('access_secret' in u.body.credential), 'no secret in the PUT', JSON.stringify(u && u.body));

    // a secret typed is sent once; then it shows as set, and is not sent again
    await open(en('registries.editNamed', { name: 'dreg' }));
    await dialog().locator('input[name=access_key]').fill('robot');
    await dialog().locator('input[name=access_secret]').fill('S3cret-typed');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    u = sent.filter((s) => s.method === 'PUT').at(-1);
    is(u && u.body.credential.access_secret, 'S3cret-typed', 'the typed secret is in the PUT');
    await open(en('registries.editNamed', { name: 'dreg' }));
    is(await dialog().locator('input[name=access_secret]').inputValue(), '', 'the secret field starts empty');
    await waitText(dialog().locator('.field-hint'), en('registries.secretUnchanged'));
    is(await dialog().locator('input[name=access_key]').inputValue(), 'robot', 'the access ID is read back');
    await dialog().locator('input[name=description]').fill('still the test registry');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    u = sent.filter((s) => s.method === 'PUT').at(-1);
    ok(u && !('access_secret' in u.body.credential), 'an untouched secret is not sent', JSON.stringify(u && u.body));
  });

  await step('Groups without LDAP: a line saying groups need it', async () => {
    await page.getByRole('link', { name: en('nav.groups') }).click();
    await page.getByRole('heading', { name: en('groups.title') }).waitFor();
    await waitText(page.locator('.alert-info'), en('groups.needLdap'));
    is(await page.getByRole('button', { name: en('groups.new') }).count(), 0, 'no New group');
    await page.getByRole('link', { name: en('nav.registries') }).click();
  });

  await step('the pages in 中文', async () => {
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await page.getByRole('heading', { name: zh('registries.title') }).waitFor();
    await waitText(page.locator('table[data-test=registries] th'), zh('registries.url'));
    await page.getByRole('link', { name: zh('nav.replications') }).click();
    await page.getByRole('heading', { name: zh('repl.title') }).waitFor();
    await waitText(page.locator('tr[data-rule=to-dreg]'), zh('repl.mode.push'));
    await waitText(page.locator('[data-test=executions]'), zh('repl.status.Succeed'));
    await shot(page, 'replications-zh');
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitemradio', { name: 'English' }).click();
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
