// The catalogs: en-US and zh-CN hold the same keys, no value is empty,
// both fill in the same {placeholders}, and every key the code asks for
// exists (static t('...') calls, and the families built at run time).
//
//   node --test test/      (npm test)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const load = (id) => JSON.parse(readFileSync(join(root, 'src/i18n', `${id}.json`), 'utf8'));
const en = load('en-US');
const zh = load('zh-CN');
const ids = readdirSync(join(root, 'src/i18n')).filter((f) => f.endsWith('.json'));

function sources(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) {
      return sources(p);
    }
    return /\.(jsx?|mjs)$/.test(f) ? [p] : [];
  });
}

const code = sources(join(root, 'src')).map((p) => [p, readFileSync(p, 'utf8')]);

test('exactly two catalogs: en-US and zh-CN', () => {
  assert.deepEqual(ids.sort(), ['en-US.json', 'zh-CN.json']);
});

test('every key of en-US is in zh-CN', () => {
  const missing = Object.keys(en).filter((k) => !(k in zh));
  assert.deepEqual(missing, [], `missing in zh-CN: ${missing.join(', ')}`);
});

test('every key of zh-CN is in en-US', () => {
  const missing = Object.keys(zh).filter((k) => !(k in en));
  assert.deepEqual(missing, [], `missing in en-US: ${missing.join(', ')}`);
});

test('no empty text', () => {
  for (const [id, cat] of [['en-US', en], ['zh-CN', zh]]) {
    const empty = Object.entries(cat).filter(([, v]) => typeof v !== 'string' || !v.trim());
    assert.deepEqual(empty.map(([k]) => k), [], `empty in ${id}`);
  }
});

test('the same placeholders in both languages', () => {
  const ph = (s) => (s.match(/\{\w+\}/g) || []).sort().join(' ');
  const differ = Object.keys(en).filter((k) => k in zh && ph(en[k]) !== ph(zh[k]));
  assert.deepEqual(differ, [], `placeholders differ: ${differ.join(', ')}`);
});

test('every t() key in the code exists in both catalogs', () => {
  const used = new Set();
  for (const [, text] of code) {
    for (const m of text.matchAll(/\bt\(\s*'([^'$]+)'/g)) {
      used.add(m[1]);
    }
  }
  assert.ok(used.size > 100, `found only ${used.size} keys: is the scan broken?`);
  const missing = [...used].filter((k) => !(k in en) || !(k in zh));
  assert.deepEqual(missing, [], `used but missing: ${missing.join(', ')}`);
});

test('keys built at run time exist', () => {
  const need = [];
  for (const r of [1, 2, 3, 4, 5]) {
    need.push(`role.${r}`, `role.${r}.hint`);
  }
  for (const tab of ['repositories', 'members', 'robots', 'logs', 'summary', 'labels', 'webhooks', 'policy']) {
    need.push(`project.tab.${tab}`);
  }
  for (const op of ['create', 'delete', 'update', 'push', 'pull', 'login']) {
    need.push(`op.${op}`);
  }
  for (const rt of ['project', 'repository', 'artifact', 'tag', 'project_member', 'user']) {
    need.push(`rt.${rt}`);
  }
  for (const s of [0, 400, 401, 403, 404, 409, 429, 500, 503]) {
    need.push(`error.${s}`);
  }
  const missing = need.filter((k) => !(k in en) || !(k in zh));
  assert.deepEqual(missing, [], `missing: ${missing.join(', ')}`);
});

test('context errors (errorText(err, ctx)) name contexts the code uses', () => {
  const contexts = new Set();
  for (const [, text] of code) {
    for (const m of text.matchAll(/context="([\w.]+)"/g)) {
      contexts.add(m[1]);
    }
  }
  const orphans = Object.keys(en)
    .map((k) => k.match(/^(.*)\.error\.\d+$/))
    .filter(Boolean)
    .map((m) => m[1])
    .filter((c) => !contexts.has(c));
  assert.deepEqual([...new Set(orphans)], [], 'error texts of contexts no code uses');
});

test('no text outside the catalogs in JSX (letters between tags)', () => {
  // >Some words< in a .jsx file is a string that skipped the catalogs
  const bad = [];
  for (const [p, text] of code) {
    if (!p.endsWith('.jsx')) {
      continue;
    }
    for (const m of text.matchAll(/>([^<>{}=;()&|\n]*[A-Za-z\u4e00-\u9fff][^<>{}=;()&|\n]*)</g)) {
      const s = m[1].trim();
      // product names and clients are not translated
      if (!['ngx-harbor'].includes(s) && !/^(docker|podman)$/.test(s)) {
        bad.push(`${p.slice(root.length)}: ${s}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
