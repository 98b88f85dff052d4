// t/ui-webhooks.t: a project's Webhooks tab.  A local HTTP sink (this
// script's own server on 127.0.0.1, which the .t allows through
// outbound_allowlist).  The project administrator creates a policy to it
// (auth header, certificate check off, PUSH_ARTIFACT only), reads it back
// on edit, disables and enables it, creates and deletes another; pushes an
// image with skopeo; the delivery appears in the policy's log and reaches
// Success without a reload, its log says HTTP 200; the sink got Harbor's
// payload with the auth header.  A developer has no Webhooks tab.  中文.

import { createServer } from 'node:http';
import {
  env, finish, is, launch, login, ok, run, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const skopeo = (process.env.UI_SKOPEO || '').split(' ').filter(Boolean);

// the sink: every POST it gets, with its Authorization and body
const got = [];
const sink = createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    got.push({ method: req.method, path: req.url, auth: req.headers.authorization || '', body });
    res.writeHead(200, { 'Content-Length': '0' });
    res.end();
  });
});
await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
const hook = `http://127.0.0.1:${sink.address().port}/hook`;

const { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.getByRole('dialog');
const policyRow = (name) => page.locator(`[data-test=webhooks] tr[data-policy="${name}"]`);

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

let failure = null;
try {
  await step('the project admin opens the Webhooks tab', async () => {
    await login(page, 'pa', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.goto('/projects/hooks');
    await page.getByRole('tab', { name: en('project.tab.webhooks') }).click();
    await page.waitForURL(/\/projects\/hooks\/webhooks$/);
    await waitText(page.locator('[data-test=empty]'), en('webhooks.empty'));
  });

  await step('a new policy: endpoint, auth header, no certificate check, pushes only', async () => {
    await open(page.getByRole('button', { name: `+ ${en('webhooks.new')}` }));
    await dialog().locator('input[name=name]').fill('ci-notify');
    await dialog().locator('input[name=address]').fill('ftp://nowhere');
    await waitText(dialog().locator('.field-error'), en('webhooks.addressRule'));
    ok(await dialog().getByRole('button', { name: en('common.create') }).isDisabled(),
      'an ftp address caught before sending');
    await dialog().locator('input[name=address]').fill(hook);
    await dialog().locator('input[name=auth_header]').fill('Bearer s3cret');
    await dialog().locator('input[name=skip_cert_verify]').check();
    ok(await dialog().locator('input[name=event-PUSH_ARTIFACT]').isChecked(), 'every event type checked at first');
    for (const x of ['PULL_ARTIFACT', 'DELETE_ARTIFACT', 'REPLICATION', 'QUOTA_EXCEED', 'QUOTA_WARNING', 'TAG_RETENTION']) {
      const box = dialog().locator(`input[name=event-${x}]`);
      if (await box.count()) {
        await box.uncheck();
      }
    }
    await shot(page, 'webhook-new-en');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await dialog().waitFor({ state: 'detached' });
    await policyRow('ci-notify').waitFor();
    const t = await policyRow('ci-notify').innerText();
    ok(t.includes(hook), 'the endpoint listed');
    ok(t.includes(en('webhooks.event.PUSH_ARTIFACT')) && !t.includes(en('webhooks.event.PULL_ARTIFACT')),
      'with its one event type');
  });

  await step('a duplicate name refused in words', async () => {
    await open(page.getByRole('button', { name: `+ ${en('webhooks.new')}` }));
    await dialog().locator('input[name=name]').fill('ci-notify');
    await dialog().locator('input[name=address]').fill(hook);
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await waitText(dialog().locator('.alert-error'), en('webhooks.save.error.409'));
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
  });

  await step('edit: the form read back, a description added', async () => {
    await open(page.getByRole('button', { name: en('webhooks.editNamed', { name: 'ci-notify' }) }));
    is(await dialog().locator('input[name=address]').inputValue(), hook, 'the endpoint');
    is(await dialog().locator('input[name=auth_header]').inputValue(), 'Bearer s3cret', 'the auth header');
    ok(await dialog().locator('input[name=skip_cert_verify]').isChecked(), 'no certificate check');
    ok(await dialog().locator('input[name=event-PUSH_ARTIFACT]').isChecked()
      && !(await dialog().locator('input[name=event-PULL_ARTIFACT]').isChecked()), 'pushes only');
    await dialog().locator('input[name=description]').fill('tell the CI');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    await waitText(policyRow('ci-notify'), 'tell the CI');
  });

  await step('disable and enable', async () => {
    await policyRow('ci-notify').getByRole('button', { name: en('webhooks.disable') }).click();
    await policyRow('ci-notify').locator('.badge', { hasText: en('webhooks.disabled') }).waitFor();
    await policyRow('ci-notify').getByRole('button', { name: en('webhooks.enable') }).click();
    await policyRow('ci-notify').getByRole('button', { name: en('webhooks.disable') }).waitFor();
  });

  await step('another policy created and deleted', async () => {
    await open(page.getByRole('button', { name: `+ ${en('webhooks.new')}` }));
    await dialog().locator('input[name=name]').fill('scratch');
    await dialog().locator('input[name=address]').fill('https://hooks.example.com/x');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await policyRow('scratch').waitFor();
    await page.getByRole('button', { name: en('webhooks.deleteNamed', { name: 'scratch' }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await policyRow('scratch').waitFor({ state: 'detached' });
  });

  await step('the delivery log: empty before a push', async () => {
    await policyRow('ci-notify').getByRole('button', { name: en('webhooks.deliveries') }).click();
    await page.waitForURL(/policy_id=\d+/);
    await page.getByRole('heading', { name: en('webhooks.deliveriesOf', { name: 'ci-notify' }) }).waitFor();
    await waitText(page.locator('[data-test=deliveries] [data-test=empty]'), en('webhooks.noDeliveries'));
  });

  await step('an image pushed with skopeo: its delivery logged, then Success', async () => {
    await run('skopeo', [...skopeo, 'copy', '--dest-creds', 'pa:Passw0rd!', '--dest-tls-verify=false',
      process.env.UI_IMAGE, `docker://${env.host}/hooks/app:v1`]);
    // the journal is applied, then the job made: Refresh until it is listed
    const until = Date.now() + 60000;
    const rows = page.locator('[data-test=executions] tbody tr');
    while (!(await rows.count())) {
      if (Date.now() > until) {
        throw new Error('no delivery listed within 60 s');
      }
      await page.locator('[data-test=deliveries]').getByRole('button', { name: en('webhooks.refresh') }).click();
      await page.waitForTimeout(500);
    }
    // the page reads the list again while it is pending
    await page.locator('[data-test=executions] tr[data-status=Success]').waitFor({ timeout: 60000 });
    const t = await rows.first().innerText();
    ok(t.includes(en('webhooks.event.PUSH_ARTIFACT')), 'the event named');
    ok(t.includes(en('webhooks.status.Success')), 'Success in words');
    await waitText(page.locator('[data-test=deliveries] .pager-range'),
      en('pager.range', { from: 1, to: 1, total: 1 }));
    await shot(page, 'webhook-deliveries-en');
    await rows.first().getByRole('button', { name: en('webhooks.log') }).click();
    await waitText(dialog().locator('[data-test=delivery-log]'), 'HTTP 200');
    await dialog().getByRole('button', { name: en('webhooks.close') }).click();
    await dialog().waitFor({ state: 'detached' });
  });

  await step('the sink got Harbor\'s payload with the auth header', async () => {
    const p = got.filter((g) => g.path === '/hook');
    is(p.length, 1, 'one POST');
    const j = JSON.parse(p[0].body);
    is(j.type, 'PUSH_ARTIFACT', 'PUSH_ARTIFACT');
    is(j.event_data.repository.repo_full_name, 'hooks/app', 'the repository');
    is(p[0].auth, 'Bearer s3cret', 'the auth header');
  });

  await step('a developer has no Webhooks tab', async () => {
    await logout();
    await login(page, 'dev', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.goto('/projects/hooks');
    await page.getByRole('tab', { name: en('project.tab.repositories') }).waitFor();
    is(await page.getByRole('tab', { name: en('project.tab.webhooks') }).count(), 0, 'no tab');
  });

  await step('the tab in 中文', async () => {
    await logout();
    await login(page, 'pa', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await page.goto('/projects/hooks');
    await page.getByRole('tab', { name: zh('project.tab.webhooks') }).click();
    await policyRow('ci-notify').getByRole('button', { name: zh('webhooks.deliveries') }).click();
    await page.locator('[data-test=executions] tr[data-status=Success]')
      .locator('.badge', { hasText: zh('webhooks.status.Success') }).waitFor();
    await waitText(page.locator('[data-test=executions]'), zh('webhooks.event.PUSH_ARTIFACT'));
    await shot(page, 'webhook-deliveries-zh');
  });
} catch (e) {
  failure = e;
}

sink.close();
await finish(ctx, errors, failure);
