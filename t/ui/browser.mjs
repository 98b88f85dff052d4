// t/ui-browser.t: what a newcomer does in the UI, in a real browser.
// Log in, create a project, push images with skopeo, find one by search,
// open it, copy its pull command, add a tag and delete it, edit the
// description, read the manifest, manage members and users, read the
// logs, switch to 中文 and see the pages translated, log out.
// Screenshots of the main pages in both languages (UI_SCREENSHOTS).

import {
  env, finish, is, launch, ok, pageFetch, run, shot, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const host = env.host;
const skopeo = (process.env.UI_SKOPEO || '').split(' ').filter(Boolean);

const { ctx, page, errors } = await launch({ locale: 'en-US' });

const dialog = () => page.locator('[role=dialog]');
const alertText = async () => (await page.locator('[role=alert]').first().textContent()) || '';
const clipboard = () => page.evaluate(() => navigator.clipboard.readText());

// the journal reaches authd a moment after a push: reload until it shows
async function eventually(fn, what, seconds = 30) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      await fn();
      return;
    } catch (e) {
      if (Date.now() > until) {
        throw new Error(`${what}: ${e.message}`);
      }
      await page.waitForTimeout(500);
      await page.reload();
    }
  }
}

let failure = null;
try {
  await step('/ leads to the login page', async () => {
    await page.goto('/');
    await page.waitForURL(/\/login/);
    await page.locator('input[name=principal]').waitFor();
  });

  await step('the UI is served with a Content-Security-Policy', async () => {
    const r = await page.request.get('/projects/anything');
    const csp = r.headers()['content-security-policy'] || '';
    if (r.status() !== 200 || !csp.includes("script-src 'self'") || !csp.includes("frame-ancestors 'none'")) {
      throw new Error(`status ${r.status()}, CSP "${csp}"`);
    }
  });
  await shot(page, 'login-en');

  await step('a wrong password is refused, in words', async () => {
    await page.fill('input[name=principal]', 'admin');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await waitText(page.locator('[role=alert]'), en('login.error.401'));
  });

  await step('admin logs in', async () => {
    await page.fill('input[name=password]', env.adminPassword);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/projects$/);
    await page.getByRole('heading', { name: en('projects.title') }).waitFor();
  });

  await step('a banner warns about the default admin password', async () => {
    await waitText(page.locator('.banner'), 'Harbor12345');
  });

  await step('the session cookie is HttpOnly and SameSite', async () => {
    const sid = (await ctx.cookies()).find((c) => c.name === 'sid');
    if (!sid || !sid.httpOnly || sid.sameSite !== 'Lax') {
      throw new Error(JSON.stringify(sid));
    }
    const seen = await page.evaluate(() => document.cookie);
    if (seen.includes('sid=')) {
      throw new Error('the page can read sid');
    }
  });

  await step('an unsafe API call without the CSRF token is refused', async () => {
    const r = await pageFetch(page, '/api/v2.0/projects', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ project_name: 'csrf' }),
    });
    if (r.status !== 403 || !r.body.includes('CSRF')) {
      throw new Error(`${r.status} ${r.body}`);
    }
  });

  await step('a project name against the rule is explained before sending', async () => {
    await page.locator('.page-head').getByRole('button', { name: en('projects.new') }).click();
    await dialog().locator('input[name=project_name]').fill('Web App');
    await waitText(dialog().locator('.field-error'), en('projects.nameRule'));
    if (!await dialog().getByRole('button', { name: en('common.create') }).isDisabled()) {
      throw new Error('Create is enabled');
    }
  });

  await step('create the private project webapp', async () => {
    await dialog().locator('input[name=project_name]').fill('webapp');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await page.waitForURL(/\/projects\/webapp$/);
    await page.getByRole('heading', { name: 'webapp', level: 1 }).waitFor();
  });

  await step('the empty project says how to push to it, with this host', async () => {
    const help = page.locator('[data-test=push-help]');
    await waitText(help, `docker login ${host}`);
    await waitText(help, `docker push ${host}/webapp/REPOSITORY[:TAG]`);
    await waitText(page.locator('[data-test=empty]'), en('repos.empty'));
  });
  await shot(page, 'project-empty-en');

  await step('creating it twice is refused, in words', async () => {
    await page.goto('/projects');
    await page.locator('.page-head').getByRole('button', { name: en('projects.new') }).click();
    await dialog().locator('input[name=project_name]').fill('webapp');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await waitText(dialog().locator('[role=alert]'), en('projects.create.error.409'));
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
  });

  await step('push an image and an index with skopeo', async () => {
    const creds = ['--dest-creds', `admin:${env.adminPassword}`, '--dest-tls-verify=false'];
    await run('skopeo', [...skopeo, 'copy', ...creds, process.env.UI_IMAGE,
      `docker://${host}/webapp/app:1.0`]);
    await run('skopeo', [...skopeo, 'copy', '--all', ...creds, process.env.UI_INDEX,
      `docker://${host}/webapp/multi:latest`]);
  });

  await step('the repositories appear in the project', async () => {
    await page.goto('/projects/webapp/repositories');
    await eventually(async () => {
      const t = await page.locator('[data-test=repositories]').textContent({ timeout: 1000 });
      if (!t.includes('webapp/app') || !t.includes('webapp/multi')) {
        throw new Error(t);
      }
    }, 'repositories');
  });
  await shot(page, 'project-en');

  await step('the project list: access, role, repository count', async () => {
    await page.goto('/projects');
    const row = page.locator('[data-test=projects] tr', { hasText: 'webapp' });
    await waitText(row, en('projects.privateLabel'));
    await waitText(row, en('role.1'));
    is((await row.locator('td.num').textContent()).trim(), '2', 'webapp has 2 repositories');
    await waitText(page.locator('[data-test=projects] tr', { hasText: 'library' }), en('projects.publicLabel'));
    if (!await row.getByRole('button', { name: en('projects.deleteNamed', { name: 'webapp' }) }).isDisabled()) {
      throw new Error('a project with repositories can be deleted');
    }
  });
  await shot(page, 'projects-en');

  await step('the search in the header finds the repository', async () => {
    await page.fill('[data-test=global-search]', 'app');
    await page.press('[data-test=global-search]', 'Enter');
    await page.waitForURL(/\/search\?q=app$/);
    await waitText(page.locator('[data-test=search-repositories]'), 'webapp/app');
  });
  await shot(page, 'search-en');

  await step('open it from the results', async () => {
    await page.locator('[data-test=search-repositories]').getByRole('link', { name: 'webapp/app' }).click();
    await page.waitForURL(/\/projects\/webapp\/repositories\/app$/);
    await page.getByRole('heading', { name: 'app', level: 1 }).waitFor();
  });

  const row = page.locator('[data-test=artifacts] tbody tr').first();
  let digest = '';
  await step('the artifact: tag, short digest, size, push time', async () => {
    await waitText(row.locator('.chip'), '1.0');
    digest = await row.getAttribute('data-digest');
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw new Error(digest);
    }
    await waitText(row, digest.slice(0, 19));
    await waitText(row, 'KiB');
  });

  await step('copy the docker pull command', async () => {
    await row.getByRole('button', { name: en('artifact.copyPull') }).click();
    await waitText(row, en('common.copied'));
    is(await clipboard(), `docker pull ${host}/webapp/app:1.0`, 'the clipboard holds the docker command');
  });

  await step('copy the podman pull command', async () => {
    await page.locator('.tool-switch').getByRole('button', { name: 'podman' }).click();
    await row.getByRole('button', { name: en('artifact.copyPull') }).click();
    is(await clipboard(), `podman pull --tls-verify=false ${host}/webapp/app:1.0`,
      'the clipboard holds the podman command');
    await page.locator('.tool-switch').getByRole('button', { name: 'docker' }).click();
  });

  await step('copy the digest', async () => {
    await row.getByRole('button', { name: en('artifact.copyDigest') }).click();
    is(await clipboard(), digest, 'the clipboard holds the whole digest');
  });

  await step('a tag name against the grammar is explained', async () => {
    await row.getByRole('button', { name: en('tags.addTo', { digest: digest.slice(0, 19) }) }).click();
    await dialog().locator('input[name=tag]').fill('-bad');
    await waitText(dialog().locator('.field-error'), en('tags.rule'));
  });

  await step('add the tag stable', async () => {
    await dialog().locator('input[name=tag]').fill('stable');
    await dialog().getByRole('button', { name: en('tags.addButton') }).click();
    await row.locator('.chip[data-tag=stable]').waitFor();
    const r = await pageFetch(page, '/api/v2.0/projects/webapp/repositories/app/artifacts/stable');
    is(r.status, 200, 'the registry has the tag');
  });

  await step('delete the tag stable', async () => {
    await row.getByRole('button', { name: en('tags.deleteNamed', { tag: 'stable' }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await row.locator('.chip[data-tag=stable]').waitFor({ state: 'detached' });
    const r = await pageFetch(page, '/api/v2.0/projects/webapp/repositories/app/artifacts/stable');
    is(r.status, 404, 'the tag is gone from the registry');
  });

  await step('edit the description; markup in it stays text', async () => {
    const d = 'The web application. <b>not bold</b> <img src=x onerror=alert(1)>';
    await page.getByRole('button', { name: en('repo.editDescription') }).click();
    await page.locator('.description textarea').fill(d);
    await page.locator('.description').getByRole('button', { name: en('common.save') }).click();
    await waitText(page.locator('[data-test=description] p'), 'not bold');
    is(await page.locator('[data-test=description] p').textContent(), d, 'shown as typed');
    is(await page.locator('[data-test=description] b, [data-test=description] img').count(), 0,
      'no element made from it');
    await page.getByRole('button', { name: en('repo.editDescription') }).click();
    await page.locator('.description textarea').fill('The web application: a static site served by nginx.');
    await page.locator('.description').getByRole('button', { name: en('common.save') }).click();
    await waitText(page.locator('[data-test=description] p'), 'static site');
  });
  await page.reload();
  await page.locator('[data-test=artifacts]').waitFor();
  await shot(page, 'repository-en');

  await step('the artifact page: manifest, config, layers as formatted JSON', async () => {
    await row.locator('a.mono').click();
    await page.waitForURL(/\/artifacts\/sha256:/);
    await waitText(page.locator('[data-test=manifest] pre'), '"schemaVersion": 2');
    await waitText(page.locator('[data-test=config] pre'), '"architecture": "amd64"');
    const layers = await page.locator('[data-test=layers] tbody tr').count();
    ok(layers >= 2, `the layers are listed (${layers})`);
    await waitText(page.locator('[data-test=layers]'), 'KiB');
  });
  await shot(page, 'artifact-en');

  await step('an index lists its platforms', async () => {
    await page.goto('/projects/webapp/repositories/multi');
    const r = page.locator('[data-test=artifacts] tbody tr').first();
    await waitText(r, 'linux/amd64');
    await waitText(r, 'linux/arm64');
    await waitText(r, en('artifact.kind.index'));
  });

  await step('delete an artifact', async () => {
    const r = page.locator('[data-test=artifacts] tbody tr').first();
    const d = await r.getAttribute('data-digest');
    await r.getByRole('button', { name: en('artifact.deleteNamed', { digest: d.slice(0, 19) }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await waitText(page.locator('[data-test=empty]'), en('repo.empty'));
  });

  await step('members: add dev as developer and guest1 as guest', async () => {
    await page.goto('/projects/webapp/members');
    for (const [user, role] of [['dev', '2'], ['guest1', '3']]) {
      await page.getByRole('button', { name: en('members.add') }).click();
      await dialog().locator('input[name=username]').fill(user);
      await dialog().locator('select[name=role]').selectOption(role);
      await dialog().getByRole('button', { name: en('members.addButton') }).click();
      await dialog().waitFor({ state: 'detached' });
      await page.locator('[data-test=members] tr', { hasText: user }).waitFor();
    }
  });

  await step('an unknown user is explained', async () => {
    await page.getByRole('button', { name: en('members.add') }).click();
    await dialog().locator('input[name=username]').fill('nobody');
    await dialog().getByRole('button', { name: en('members.addButton') }).click();
    await waitText(dialog().locator('[role=alert]'), en('members.add.error.404'));
    await dialog().getByRole('button', { name: en('common.cancel') }).click();
  });

  await step('change the role of guest1 to maintainer', async () => {
    await page.getByRole('combobox', { name: en('members.roleOf', { name: 'guest1' }) }).selectOption('4');
    await page.waitForTimeout(300);
    await page.reload();
    is(await page.getByRole('combobox', { name: en('members.roleOf', { name: 'guest1' }) }).inputValue(), '4',
      'the new role stays after a reload');
  });
  await shot(page, 'members-en');

  await step('remove guest1', async () => {
    await page.getByRole('button', { name: en('members.removeNamed', { name: 'guest1' }) }).click();
    await dialog().getByRole('button', { name: en('members.remove') }).click();
    await page.locator('[data-test=members] tr', { hasText: 'guest1' }).waitFor({ state: 'detached' });
  });

  await step('the project logs list the pushes (Harbor: create artifact)', async () => {
    await page.goto('/projects/webapp/logs?page_size=50');
    await eventually(async () => {
      const t = await page.locator('[data-test=logs]').textContent({ timeout: 1000 });
      if (!t.includes(en('op.create')) || !t.includes('webapp/app:1.0')) {
        throw new Error(t);
      }
    }, 'logs');
  });
  await shot(page, 'logs-en');

  await step('the summary', async () => {
    await page.goto('/projects/webapp/summary');
    await waitText(page.locator('[data-test=summary]'), `${en('role.2')}: 1`);
    await page.getByRole('button', { name: en('summary.makePublic') }).click();
    await page.getByRole('button', { name: en('summary.makePrivate') }).waitFor();
    await waitText(page.locator('.page-head .badge'), en('projects.publicLabel'));
    await page.getByRole('button', { name: en('summary.makePrivate') }).click();
    await waitText(page.locator('.page-head .badge'), en('projects.privateLabel'));
  });
  await shot(page, 'summary-en');

  await step('admin: create the user carol', async () => {
    await page.getByRole('link', { name: en('nav.users') }).click();
    await page.waitForURL(/\/admin\/users$/);
    await page.locator('.page-head').getByRole('button', { name: en('users.new') }).click();
    await dialog().locator('input[name=username]').fill('carol');
    await dialog().locator('input[name=email]').fill('carol@example.com');
    await dialog().locator('input[name=realname]').fill('Carol');
    await dialog().locator('input[name=password]').fill('weak');
    await waitText(dialog().locator('.field-error'), en('password.rule'));
    await dialog().locator('input[name=password]').fill('Carol1234');
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await page.locator('[data-test=users] tr[data-user=carol]').waitFor();
  });

  const carol = page.locator('[data-test=users] tr[data-user=carol]');
  await step('make carol an admin, and not', async () => {
    await carol.getByRole('button', { name: en('users.makeAdmin') }).click();
    await waitText(carol, en('users.revokeAdmin'));
    await waitText(carol.locator('td').nth(3), en('common.yes'));
    await carol.getByRole('button', { name: en('users.revokeAdmin') }).click();
    await waitText(carol.locator('td').nth(3), en('common.no'));
  });
  await shot(page, 'users-en');

  await step("reset carol's password", async () => {
    await carol.getByRole('button', { name: en('users.resetPassword') }).click();
    await dialog().locator('input[name=new_password]').fill('Carol5678');
    await dialog().locator('input[name=new_password_again]').fill('Carol5678');
    await dialog().getByRole('button', { name: en('common.save') }).click();
    await dialog().waitFor({ state: 'detached' });
    const r = await fetch(`${env.url}/c/login`, {
      method: 'POST', body: new URLSearchParams({ principal: 'carol', password: 'Carol5678' }),
    });
    is(r.status, 200, 'carol logs in with the new password');
  });

  await step('delete carol', async () => {
    await carol.getByRole('button', { name: en('users.deleteNamed', { name: 'carol' }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await carol.waitFor({ state: 'detached' });
  });

  await step('audit logs, filtered by operation', async () => {
    await page.getByRole('link', { name: en('nav.audit') }).click();
    await page.waitForURL(/\/admin\/audit-logs$/);
    await page.locator('[data-test=logs]').waitFor();
    await page.locator('select[name=operation]').selectOption('delete');
    await page.getByRole('button', { name: en('audit.apply') }).click();
    await page.waitForURL(/operation=delete/);
    await page.waitForTimeout(500);
    const ops = await page.locator('[data-test=logs] tbody tr td:nth-child(3)').allTextContents();
    ok(ops.length > 0 && ops.every((o) => o === en('op.delete')), `only deletions (${ops.join(', ')})`);
  });
  await shot(page, 'audit-en');

  await step('create and delete an empty project', async () => {
    await page.goto('/projects');
    await page.locator('.page-head').getByRole('button', { name: en('projects.new') }).click();
    await dialog().locator('input[name=project_name]').fill('scratch');
    await dialog().locator('input[name=public]').check();
    await dialog().getByRole('button', { name: en('common.create') }).click();
    await page.waitForURL(/\/projects\/scratch$/);
    await page.goto('/projects');
    await page.getByRole('button', { name: en('projects.deleteNamed', { name: 'scratch' }) }).click();
    await dialog().getByRole('button', { name: en('common.delete') }).click();
    await page.locator('[data-test=projects] tr', { hasText: 'scratch' }).waitFor({ state: 'detached' });
  });

  await step('switch to 简体中文 in the user menu', async () => {
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitemradio', { name: '简体中文' }).click();
    await page.getByRole('heading', { name: zh('projects.title') }).waitFor();
    await page.getByRole('link', { name: zh('nav.users'), exact: true }).waitFor();
  });

  await step('the language is remembered', async () => {
    await page.reload();
    await page.getByRole('heading', { name: zh('projects.title') }).waitFor();
    is(await page.evaluate(() => document.documentElement.lang), 'zh-CN', '<html lang>');
  });

  await step('the pages in 中文', async () => {
    await waitText(page.locator('[data-test=projects] th'), zh('projects.role'));
    await shot(page, 'projects-zh');
    await page.goto('/projects/webapp');
    await page.getByRole('tab', { name: zh('project.tab.repositories') }).waitFor();
    await waitText(page.locator('[data-test=repositories] th'), zh('repos.pulls'));
    await shot(page, 'project-zh');
    await page.goto('/projects/webapp/repositories/app');
    await waitText(page.locator('[data-test=artifacts] th'), zh('artifact.pushed'));
    await shot(page, 'repository-zh');
    await page.locator('[data-test=artifacts] tbody tr a.mono').first().click();
    await waitText(page.locator('h2'), zh('artifact.layers'));
    await page.locator('[data-test=manifest] pre').waitFor();
    await shot(page, 'artifact-zh');
    await page.goto('/projects/webapp/members');
    await waitText(page.locator('[data-test=members]'), zh('role.2'));
    await shot(page, 'members-zh');
    await page.goto('/search?q=app');
    await waitText(page.locator('[data-test=search-repositories] th'), zh('repos.pulls'));
    await waitText(page.locator('h1'), zh('search.title', { q: 'app' }));
    await shot(page, 'search-zh');
    await page.goto('/admin/users');
    await waitText(page.locator('[data-test=users] th'), zh('users.admin'));
    await shot(page, 'users-zh');
    await page.goto('/admin/audit-logs');
    await waitText(page.locator('.filters'), zh('audit.apply'));
    await page.locator('[data-test=logs]').waitFor();
    await shot(page, 'audit-zh');
  });

  await step('errors in 中文', async () => {
    await page.goto('/projects');
    await page.locator('.page-head').getByRole('button', { name: zh('projects.new') }).click();
    await dialog().locator('input[name=project_name]').fill('webapp');
    await dialog().getByRole('button', { name: zh('common.create') }).click();
    await waitText(dialog().locator('[role=alert]'), zh('projects.create.error.409'));
    await dialog().getByRole('button', { name: zh('common.cancel') }).click();
  });

  await step('log out', async () => {
    await page.click('[data-test=user-menu]');
    await page.getByRole('menuitem', { name: zh('menu.logout') }).click();
    await waitText(page.locator('[role=status]'), zh('login.loggedOut'));
    const sid = (await ctx.cookies()).find((c) => c.name === 'sid');
    ok(!sid || !sid.value, 'the session cookie is gone');
    const r = await pageFetch(page, '/api/v2.0/users/current');
    is(r.status, 401, 'the API no longer knows the browser');
  });
  await shot(page, 'login-zh');

  await step('a page of the app leads back to the login', async () => {
    await page.goto('/projects/webapp');
    await page.waitForURL(/\/login\?next=/);
  });

  await step('back to English on the login page', async () => {
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('button', { name: en('login.submit') }).waitFor();
  });

  await step('logging in again returns to the page asked for', async () => {
    await page.fill('input[name=principal]', 'admin');
    await page.fill('input[name=password]', env.adminPassword);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/projects\/webapp$/);
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
