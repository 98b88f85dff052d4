// Every string the UI shows comes from a catalog: en-US or zh-CN.
// test/i18n.test.js fails if a key is missing in either, or if the code
// uses a key that no catalog has.

import en from './i18n/en-US.json';
import zh from './i18n/zh-CN.json';

export const catalogs = { 'en-US': en, 'zh-CN': zh };
export const languages = [
  { id: 'en-US', label: 'English' },
  { id: 'zh-CN', label: '简体中文' },
];

const STORE = 'harbor-lang';

function initial() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORE);
  } catch {
    // storage off: follow the browser
  }
  if (saved && catalogs[saved]) {
    return saved;
  }
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en-US';
}

let current = initial();
document.documentElement.lang = current;

export function lang() {
  return current;
}

export function setLang(id) {
  if (!catalogs[id]) {
    return;
  }
  current = id;
  document.documentElement.lang = id;
  try {
    localStorage.setItem(STORE, id);
  } catch {
    // remembered for this page only
  }
}

// t('pager.page', { page: 2, last: 5 }): the text of a key with {name} filled in.
// A missing key shows itself, so it is seen (and the test catches it).
export function t(key, vars) {
  let s = catalogs[current][key];
  if (s === undefined) {
    s = catalogs['en-US'][key];
  }
  if (s === undefined) {
    return key;
  }
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
  }
  return s;
}

// Dates, sizes and numbers in the chosen language.
export function fmtTime(s) {
  if (!s) {
    return '—';
  }
  const d = new Date(s);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) {
    return '—';
  }
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function fmtSize(n) {
  if (n === null || n === undefined || n < 0) {
    return '—';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${new Intl.NumberFormat(current, { maximumFractionDigits: digits }).format(v)} ${units[i]}`;
}

export function fmtNum(n) {
  return new Intl.NumberFormat(current).format(n || 0);
}

// An API error as a person wants to read it: what happened and what to
// do, in the chosen language; the server's own words as a detail.
export function errorText(err, context) {
  if (!err) {
    return '';
  }
  const status = err.status ?? 0;
  if (context) {
    const k = `${context}.error.${status}`;
    if (catalogs['en-US'][k]) {
      return t(k);
    }
  }
  const k = `error.${status}`;
  return catalogs['en-US'][k] ? t(k) : t('error.other', { status });
}
