// The editor's interface language. The strings live in ui/i18n/<locale>.json (one file per
// language, keys shared with en.json); node titles and tooltips come with the catalog from Python
// (ui/i18n/nodes.<locale>.json, see ui/catalog.py). A missing key falls back to English, then to
// the key itself, so a half-translated language still shows every label.
import en from '../../../i18n/en.json';
import zhCN from '../../../i18n/zh-CN.json';
import { fmtSeconds } from './estimate.js';

export const LOCALES = [
  { id: 'en', name: 'English', strings: en },
  { id: 'zh-CN', name: '简体中文', strings: zhCN },
];
const BY_ID = new Map(LOCALES.map((l) => [l.id, l]));
const STORE_KEY = 'reelgraph.locale';

/** The language a browser asks for: zh* (zh, zh-CN, zh-Hans, zh-SG...) -> zh-CN, else English. */
export function matchLocale(tags) {
  for (const tag of tags ?? []) {
    const t = String(tag || '').toLowerCase();
    if (t === 'en' || t.startsWith('en-')) return 'en';
    if (t === 'zh' || t.startsWith('zh-')) return 'zh-CN';
  }
  return 'en';
}

function stored() {
  try {
    const v = globalThis.localStorage?.getItem(STORE_KEY);
    return v && BY_ID.has(v) ? v : null;
  } catch {
    return null; // storage blocked (private mode, sandboxed frame): follow the browser
  }
}

function browserLocale() {
  const nav = globalThis.navigator;
  if (!nav) return 'en';
  return matchLocale(nav.languages?.length ? nav.languages : [nav.language]);
}

class I18n {
  // the user's choice (remembered) wins over the browser's language
  locale = $state(stored() ?? browserLocale());

  set(id) {
    if (!BY_ID.has(id)) return;
    this.locale = id;
    try {
      globalThis.localStorage?.setItem(STORE_KEY, id);
    } catch {
      // not remembered, but still switched for this page
    }
  }
}

export const i18n = new I18n();

function lookup(key) {
  const own = BY_ID.get(i18n.locale)?.strings;
  return own?.[key] ?? en[key];
}

/** t('toolbar.run'); t('status.issues', { n: 3 }) picks `status.issues_one` / `_other` by n. */
export function t(key, vars) {
  let s;
  if (vars && typeof vars.n === 'number') s = lookup(`${key}_${vars.n === 1 ? 'one' : 'other'}`);
  s ??= lookup(key) ?? key;
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** What Python said about a run or a node, in this language: ``target.say`` lists its parts as
 * [key, values] (a plain string part is shown as it is); ``target.message`` is the English. A
 * ``time`` value is seconds. */
export function said(target, sep = ' — ') {
  if (!target) return '';
  if (!Array.isArray(target.say)) return target.message || '';
  return target.say
    .map((p) => {
      if (typeof p === 'string') return p;
      const [key, vars] = p;
      const v = { ...(vars || {}) };
      if (typeof v.time === 'number') v.time = fmtSeconds(v.time);
      return t(key, v);
    })
    .join(sep);
}

/** An issue's message and fix in this language (the validator's [key, values]; English otherwise). */
export function issueText(iss) {
  const [message, fix] = Array.isArray(iss?.say) ? iss.say : [];
  return {
    message: message ? t(message[0], message[1]) : iss?.message ?? '',
    fix: fix ? t(fix[0], fix[1]) : iss?.fix ?? '',
  };
}
