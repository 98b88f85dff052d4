// t/ui-reset.t: a forgotten password.  "Forgot password?" on the login
// page sends the address and says the same as for any address; the
// mailed link (read from the test's Maildir) opens the page that sets a
// new password: two that differ are caught before sending, a weak one is
// refused in the API's words, a good one lands back on the login page,
// which takes it; the link a second time is refused.  中文 on the login
// page.  As admin: Configuration > Email, "Test mail server".

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  env, finish, launch, login, ok, step, text, waitText,
} from './lib.mjs';

const en = (k, v) => text('en', k, v);
const zh = (k, v) => text('zh', k, v);
const maildir = process.env.HARBOR_MAILDIR;

let { ctx, page, errors } = await launch({ locale: 'en-US' });

// the reset link of the newest mail, once there are n
async function linkOf(n) {
  const dir = join(maildir, 'new');
  for (let i = 0; i < 150; i++) {
    let files = [];
    try {
      files = readdirSync(dir);
    } catch {
      // not made yet
    }
    if (files.length >= n) {
      const newest = files.map((f) => join(dir, f))
        .map((f) => [f, readFileSync(f, 'utf8')])
        .find(([, body]) => !seen.has(body));
      if (newest) {
        seen.add(newest[1]);
        const m = newest[1].match(/https?:\/\/[^\s]+\/reset-password\?reset_uuid=[0-9a-f]{64}/);
        return m ? new URL(m[0]).pathname + new URL(m[0]).search : null;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}
const seen = new Set();

let failure = null;
let link = null;
try {
  // the login page's "Forgot password?" with an address, and its answer
  const forgot = async (address) => {
    await page.goto('/login');
    await page.getByRole('button', { name: en('login.forgot') }).click();
    await page.fill('input[name=email]', address);
    await page.getByRole('button', { name: en('login.forgot.send') }).click();
    await waitText(page.locator('[role=status]'), en('login.forgot.sent'));
  };

  await step('Forgot password? sends the address and says what happens',
    () => forgot('carol@example.org'));
  await step('an unknown address gets the same words', () => forgot('nobody@example.org'));

  await step('the mail carries the link', async () => {
    link = await linkOf(1);
    ok(link !== null, 'a reset link in the mail');
  });

  await step('the link\'s page: two passwords that differ are caught', async () => {
    await page.goto(link);
    await page.getByRole('heading', { name: en('reset.title') }).waitFor();
    await page.fill('input[name=password]', 'C4rol!new1');
    await page.fill('input[name=again]', 'C4rol!new2');
    await waitText(page.locator('.field-error'), en('reset.mismatch'));
    ok(await page.getByRole('button', { name: en('reset.submit') }).isDisabled(),
      'cannot send two passwords that differ');
  });

  await step('a weak password is refused in the API\'s words', async () => {
    await page.fill('input[name=password]', 'weakweak');
    await page.fill('input[name=again]', 'weakweak');
    await page.getByRole('button', { name: en('reset.submit') }).click();
    await waitText(page.locator('[role=alert]'), en('reset.error.400'));
  });

  await step('a good one: back on the login page, which takes it', async () => {
    await page.fill('input[name=password]', 'C4rol!new1');
    await page.fill('input[name=again]', 'C4rol!new1');
    await page.getByRole('button', { name: en('reset.submit') }).click();
    await page.waitForURL(/\/login$/);
    await waitText(page.locator('[role=status]'), en('reset.done'));
    await login(page, 'carol', 'C4rol!new1');
    await page.waitForURL(/\/projects$/);
  });

  await step('the link a second time is refused', async () => {
    await page.goto(link);
    await page.fill('input[name=password]', 'C4rol!new9');
    await page.fill('input[name=again]', 'C4rol!new9');
    await page.getByRole('button', { name: en('reset.submit') }).click();
    await waitText(page.locator('[role=alert]'), en('reset.error.400'));
  });

  await step('Configuration > Email: the stored server, and its test', async () => {
    await ctx.close();
    ({ ctx, page, errors } = await launch({ locale: 'en-US' }));
    await login(page, 'admin', env.adminPassword);
    await page.waitForURL(/\/projects$/);
    await page.goto('/admin/configurations?tab=email');
    await page.getByRole('tab', { name: en('settings.tab.email') }).waitFor();
    ok(await page.inputValue('input[name=email_host]') === '127.0.0.1', 'email_host shown');
    ok(await page.inputValue('input[name=email_password]') === '', 'the password is never shown');
    await page.getByRole('button', { name: en('settings.emailPing') }).click();
    await waitText(page.locator('[role=status]'), en('settings.emailPing.ok'));
  });

  await step('中文: the login page offers the reset', async () => {
    await ctx.close();
    ({ ctx, page, errors } = await launch({ locale: 'zh-CN' }));
    await page.goto('/login');
    await page.getByRole('button', { name: zh('login.forgot') }).click();
    await page.getByRole('button', { name: zh('login.forgot.send') }).waitFor();
  });
} catch (e) {
  failure = e;
}

await finish(ctx, errors, failure);
