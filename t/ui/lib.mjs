// Shared by the Playwright scripts of t/ui-*.t: start Debian's chromium
// through playwright-core (from ui/node_modules; no browser download),
// report checks as "ok - name" / "not ok - name" lines for
// t/lib/Harbor/UI.pm, take screenshots.

import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';

const root = new URL('../..', import.meta.url).pathname;
const require = createRequire(join(root, 'ui/package.json'));
const { chromium } = require('playwright-core');

export const env = {
  url: process.env.HARBOR_URL,
  host: process.env.HARBOR_HOST,
  adminPassword: process.env.HARBOR_ADMIN_PASSWORD || 'Harbor12345',
  tmp: process.env.UI_TMP || mkdtempSync('/tmp/harbor-ui-'),
  shots: process.env.UI_SCREENSHOTS || '',
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
};

if (!env.url) {
  console.log('# HARBOR_URL is not set: run this through prove t/ui-*.t');
  process.exit(2);
}

export const catalogs = {
  en: JSON.parse(readFileSync(join(root, 'ui/src/i18n/en-US.json'), 'utf8')),
  zh: JSON.parse(readFileSync(join(root, 'ui/src/i18n/zh-CN.json'), 'utf8')),
};

// the catalog text with {placeholders} filled, as the UI shows it
export function text(lang, key, vars = {}) {
  const s = catalogs[lang][key];
  if (s === undefined) {
    throw new Error(`no key ${key} in ${lang}`);
  }
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
}

let current = null;
let failed = 0;

export async function launch({ locale = 'en-US' } = {}) {
  const dir = mkdtempSync(join(env.tmp, 'chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: env.chromium,
    headless: true,
    locale,
    viewport: { width: 1280, height: 800 },
    baseURL: env.url,
    permissions: ['clipboard-read', 'clipboard-write'],
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
  ctx.setDefaultTimeout(15000);
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (40[0-9]|412|429)/.test(m.text())) {
      errors.push(m.text());
    }
  });
  current = page;
  return { ctx, page, errors };
}

export function ok(cond, name, diag) {
  if (cond) {
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}`);
    if (diag) {
      for (const l of String(diag).split('\n')) {
        console.log(`# ${l}`);
      }
    }
  }
  return !!cond;
}

export function is(got, want, name) {
  return ok(got === want, name, `got:      ${JSON.stringify(got)}\nexpected: ${JSON.stringify(want)}`);
}

// A step: passes when fn resolves.  A failed step ends the script (what
// follows depends on it), with a screenshot of where it stood.
export async function step(name, fn) {
  try {
    await fn();
    ok(true, name);
  } catch (e) {
    ok(false, name, e && e.stack ? e.stack.split('\n').slice(0, 6).join('\n') : String(e));
    if (current) {
      const path = join(env.tmp, 'failure.png');
      try {
        await current.screenshot({ path, fullPage: true });
        console.log(`# screenshot of the failure: ${path}`);
        console.log(`# at ${current.url()}`);
      } catch {
        // the page is gone
      }
    }
    throw new Stop();
  }
}

export class Stop extends Error {}

export async function shot(page, name) {
  if (!env.shots) {
    return;
  }
  // no caret, no hover state: the same page gives the same picture
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: join(env.shots, `${name}.png`), fullPage: false });
}

// run a command (skopeo); resolves with its output, rejects on failure
export function run(cmd, args, timeout = 120000) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

// the script's end: exit status for Harbor::UI
export async function finish(ctx, errors, e) {
  if (e && !(e instanceof Stop)) {
    ok(false, 'no unexpected exception', e.stack || String(e));
  }
  if (errors) {
    ok(errors.length === 0, 'no JavaScript errors in the page', errors.join('\n'));
  }
  if (ctx) {
    await ctx.close().catch(() => {});
  }
  process.exit(failed || e ? 1 : 0);
}

// wait until one of locator's elements holds the text s
export async function waitText(locator, s, timeout = 15000) {
  await locator.filter({ hasText: s }).first().waitFor({ timeout });
}

// the login form, filled and sent
export async function login(page, user, pass) {
  await page.goto('/login');
  await page.fill('input[name=principal]', user);
  await page.fill('input[name=password]', pass);
  await page.click('button[type=submit]');
}

// fetch() from inside the page, with its cookies: {status, body}
export function pageFetch(page, path, init = {}) {
  return page.evaluate(async ([p, i]) => {
    const r = await fetch(p, i);
    return { status: r.status, body: await r.text() };
  }, [path, init]);
}

// a click that opens a dialog (a locator, or a button's name), then the
// wait for the dialog to focus its first field: typing before that would
// land elsewhere
export async function openDialog(page, what) {
  await (typeof what === 'string'
    ? page.getByRole('button', { name: what }) : what).click();
  await page.waitForFunction(() => {
    const d = document.querySelector('[role=dialog]');
    const first = d && d.querySelector('input, select, textarea, button.primary');
    return first && (first.disabled || d.contains(document.activeElement));
  });
}
