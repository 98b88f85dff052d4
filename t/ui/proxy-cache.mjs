// t/ui-proxy-cache.t: the New project dialog as admin: the "Proxy cache"
// toggle shows the registry endpoints; the project made with the one
// chosen carries its registry_id and its page says it is a proxy cache;
// a user who is not an admin sees no toggle; the dialog in 中文.

import {
  env, finish, is, launch, login, ok, openDialog, pageFetch, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const regId = process.env.UI_REGISTRY_ID;

let { ctx, page, errors } = await launch({ locale: 'en-US' });
const dialog = () => page.getByRole('dialog');

// the bodies the page sends to POST /projects
const sent = [];
page.on('request', (r) => {
  if (/\/api\/v2\.0\/projects$/.test(r.url()) && r.method() === 'POST') {
    sent.push(r.postDataJSON());
  }
});

const open = (button) => openDialog(page, button);

let failure = null;
try {
  await step('admin: New project with the Proxy cache toggle', async () => {
    await login(page, 'admin', env.adminPassword);
    await page.waitForURL(/\/projects$/);
    await open(en('projects.new'));
    await dialog().locator('input[name=project_name]').fill('hubcache');
    ok(await dialog().locator('select[name=registry_id]').count() === 0,
      'no registry select while the toggle is off');
    await dialog().getByText(en('projects.proxyCache')).click();
    const sel = dialog().locator('select[name=registry_id]');
    await sel.waitFor();
    ok(await dialog().getByRole('button', { name: en('common.create') }).isDisabled(),
      'Create waits for an endpoint');
    // the endpoints load after the toggle: an option beside the prompt
    await page.waitForFunction(() => document.querySelectorAll('select[name=registry_id] option').length > 1);
    ok((await sel.locator('option').allTextContents()).some((x) => x.startsWith('upstream (')),
      'the endpoint is offered by name and URL');
    await sel.selectOption(regId);
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await page.waitForURL(/\/projects\/hubcache/);
    is(sent.at(-1) && sent.at(-1).registry_id, Number(regId), 'registry_id sent as a number');
    await waitText(page.locator('[data-test=proxy-cache]'), en('projects.proxyOf', { id: regId }));
  });

  await step('the API agrees', async () => {
    const r = await pageFetch(page, '/api/v2.0/projects/hubcache');
    is(r.status, 200, 'GET /projects/hubcache');
    is(JSON.parse(r.body).registry_id, Number(regId), 'its registry_id');
  });

  await step('the dialog in 中文', async () => {
    await page.goto('/projects');
    await page.click('[data-test=user-menu]');
    await page.locator('button[lang=zh-CN]').click();
    await open(zh('projects.new'));
    await dialog().getByText(zh('projects.proxyCache')).click();
    await dialog().locator('select[name=registry_id]').waitFor();
    await waitText(dialog(), zh('projects.proxyCacheHint'));
    ok(true, 'Proxy cache and its hint in 中文');
    await dialog().getByRole('button', { name: zh('common.cancel') }).click();
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitemradio', { name: 'English' }).click();
  });

  await step('a user who is not an admin sees no toggle', async () => {
    await ctx.close();
    ({ ctx, page, errors } = await launch({ locale: 'en-US' }));
    await login(page, 'dev', 'Passw0rd!');
    await page.waitForURL(/\/projects$/);
    await open(en('projects.new'));
    is(await dialog().getByText(en('projects.proxyCache')).count(), 0, 'no Proxy cache toggle');
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
