// t/ui-settings.t: Administration > Configuration.  As admin: the System
// settings tab, token_expiration changed and saved (the PUT names that key
// only) and still there after a reload; the Authentication tab: switching
// to LDAP while users exist is refused with the API's own words, the
// search password is empty and sent only once typed, "Test LDAP server"
// shows the server's refusal; the page in 中文.  As a developer: no
// Configuration entry, the forbidden view at its URL, a 403 from the API.

import {
  env, finish, is, launch, login, ok, pageFetch, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);

let { ctx, page, errors } = await launch({ locale: 'en-US' });

async function loginTo(user, pass) {
  await login(page, user, pass);
  await page.waitForURL(/\/projects$/);
}

// the bodies the page sends to one API path
const sent = [];
page.on('request', (r) => {
  if (/\/api\/v2\.0\/(configurations|ldap\/ping)$/.test(r.url()) && r.method() !== 'GET') {
    sent.push({ method: r.method(), path: new URL(r.url()).pathname, body: r.postDataJSON() });
  }
});

const form = () => page.locator('[data-test=settings]');
const last = (path) => sent.filter((s) => s.path.endsWith(path)).at(-1);

let failure = null;
try {
  await step('admin logs in and finds Configuration in the menu', async () => {
    await loginTo('admin', env.adminPassword);
    await page.getByRole('link', { name: en('settings.nav') }).click();
    await page.waitForURL(/\/admin\/configurations$/);
    await page.getByRole('heading', { name: en('settings.title') }).waitFor();
    await page.getByRole('tab', { name: en('settings.tab.auth') }).waitFor();
  });

  await step('System settings: the values the API has', async () => {
    await page.getByRole('tab', { name: en('settings.tab.system') }).click();
    await page.waitForURL(/tab=system/);
    const cfg = JSON.parse((await pageFetch(page, '/api/v2.0/configurations')).body);
    is(await form().locator('input[name=token_expiration]').inputValue(),
      String(cfg.token_expiration.value), 'token_expiration as GET /configurations says');
    is(await form().locator('select[name=project_creation_restriction]').inputValue(),
      cfg.project_creation_restriction.value, 'project_creation_restriction');
    is(await form().locator('input[name=robot_name_prefix]').inputValue(),
      cfg.robot_name_prefix.value, 'robot_name_prefix');
    ok(await form().getByRole('button', { name: en('common.save') }).isDisabled(),
      'nothing changed: Save is disabled');
  });
  await shot(page, 'settings-en');

  await step('a value that is not a number is refused before it is sent', async () => {
    await form().locator('input[name=token_expiration]').fill('soon');
    await waitText(form().locator('.field-error'), en('settings.int'));
    ok(await form().getByRole('button', { name: en('common.save') }).isDisabled(),
      'Save is disabled');
  });

  await step('token_expiration changed and saved', async () => {
    await form().locator('input[name=token_expiration]').fill('45');
    await waitText(form(), en('settings.changed', { n: 1 }));
    await form().getByRole('button', { name: en('common.save') }).click();
    await waitText(page.locator('[role=status]'), en('settings.saved'));
    const put = last('/configurations');
    is(put && put.method, 'PUT', 'a PUT');
    is(JSON.stringify(put && put.body), '{"token_expiration":45}', 'of the changed key only, as a number');
  });

  await step('after a reload the value stays', async () => {
    await page.reload();
    await page.getByRole('heading', { name: en('settings.title') }).waitFor();
    await form().locator('input[name=token_expiration]').waitFor();
    is(await form().locator('input[name=token_expiration]').inputValue(), '45', 'token_expiration 45');
    const cfg = JSON.parse((await pageFetch(page, '/api/v2.0/configurations')).body);
    is(cfg.token_expiration.value, 45, 'the API has it too');
  });

  await step('Authentication: LDAP fields appear with ldap_auth', async () => {
    await page.getByRole('tab', { name: en('settings.tab.auth') }).click();
    await form().locator('select[name=auth_mode]').waitFor();
    is(await form().locator('select[name=auth_mode]').inputValue(), 'db_auth', 'db_auth now');
    is(await form().locator('input[name=ldap_url]').count(), 0, 'no LDAP fields with db_auth');
    await waitText(form(), en('settings.authMode.locked'));
    await form().locator('select[name=auth_mode]').selectOption('ldap_auth');
    await form().locator('input[name=ldap_url]').waitFor();
    const pw = form().locator('input[name=ldap_search_password]');
    is(await pw.getAttribute('type'), 'password', 'the search password is a password field');
    is(await pw.inputValue(), '', 'it starts empty');
    is(await pw.getAttribute('placeholder'), en('settings.ldapSearchPassword.placeholder'),
      'with a placeholder');
  });

  await step('switching to LDAP while users exist: the API\'s refusal in words', async () => {
    await form().locator('input[name=ldap_url]').fill('ldap://127.0.0.1:1');
    await form().getByRole('button', { name: en('common.save') }).click();
    const alert = form().locator('[role=alert]');
    await waitText(alert, en('settings.save.error.400'));
    await waitText(alert, 'the auth mode cannot be changed while users other than admin exist');
    const put = last('/configurations');
    is(put.body.auth_mode, 'ldap_auth', 'the PUT asked for ldap_auth');
    ok(!('ldap_search_password' in put.body), 'no password sent when none was typed');
    const cfg = JSON.parse((await pageFetch(page, '/api/v2.0/configurations')).body);
    is(cfg.auth_mode.value, 'db_auth', 'still db_auth');
  });

  await step('Test LDAP server: the server\'s answer in words', async () => {
    await form().getByRole('button', { name: en('settings.ldapPing') }).click();
    await waitText(form().locator('[role=alert]'), en('settings.ldapPing.error.400'));
    await waitText(form().locator('[role=alert]'), 'failed to ping the LDAP server');
    let ping = last('/ldap/ping');
    is(ping.body.ldap_url, 'ldap://127.0.0.1:1', 'the URL of the form');
    ok(!('ldap_search_password' in ping.body), 'no password when none was typed');
    ok(!('auth_mode' in ping.body), 'LDAP keys only');
    await form().locator('input[name=ldap_search_password]').fill('s3cret');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v2.0/ldap/ping')),
      form().getByRole('button', { name: en('settings.ldapPing') }).click(),
    ]);
    await waitText(form().locator('[role=alert]'), 'failed to ping the LDAP server');
    ping = last('/ldap/ping');
    is(ping.body.ldap_search_password, 's3cret', 'the typed password is sent');
    const cfg = (await pageFetch(page, '/api/v2.0/configurations')).body;
    ok(!cfg.includes('s3cret'), 'and never read back');
  });

  await step('the page in 中文', async () => {
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitemradio', { name: '简体中文' }).click();
    await page.goto('/admin/configurations?tab=system');
    await page.getByRole('heading', { name: zh('settings.title') }).waitFor();
    await page.getByRole('link', { name: zh('settings.nav') }).waitFor();
    await page.getByRole('tab', { name: zh('settings.tab.auth') }).waitFor();
    await waitText(form().locator('.field-label'), zh('settings.tokenExpiration'));
    await waitText(form().locator('.field-label'), zh('settings.robotNamePrefix'));
    await waitText(form(), zh('settings.unchanged'));
    await shot(page, 'settings-zh');
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitemradio', { name: 'English' }).click();
  });

  await step('a developer: no Configuration entry', async () => {
    ok(errors.length === 0, 'no JavaScript errors in the admin\'s page', errors.join('\n'));
    await ctx.close();
    ({ ctx, page, errors } = await launch({ locale: 'en-US' }));
    await loginTo('dev', 'Passw0rd!');
    is(await page.getByRole('link', { name: en('settings.nav') }).count(), 0, 'no Configuration link');
  });

  await step('a developer at its URL: the forbidden view, and a 403 from the API', async () => {
    await page.goto('/admin/configurations');
    await page.getByRole('heading', { name: en('forbidden.title') }).waitFor();
    is(await page.locator('[data-test=settings]').count(), 0, 'nothing of the page');
    is((await pageFetch(page, '/api/v2.0/configurations')).status, 403, 'GET /configurations: 403');
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
