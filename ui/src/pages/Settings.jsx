// Administration > Configuration (system admins): the settings authd
// changes at run time, read from GET /configurations ({key: {value,
// editable}}) and saved with a PUT of the keys that changed only.
// ldap_search_password and email_password are write-only: the API never
// returns them, the field starts empty and is sent only when something
// was typed in it.

import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { navigate, withQuery } from '../router.jsx';
import { ErrorBox, Field, Loading, Notice, useLoad } from '../components.jsx';

const SECRET = 'ldap_search_password';
const SECRETS = [SECRET, 'email_password'];

// key -> kind of input; the order is the page's
const AUTH_KEYS = {
  auth_mode: 'auth_mode',
  ldap_url: 'text',
  ldap_search_dn: 'text',
  [SECRET]: 'secret',
  ldap_base_dn: 'text',
  ldap_filter: 'text',
  ldap_uid: 'text',
  ldap_scope: 'scope',
  ldap_timeout: 'int',
  ldap_verify_cert: 'bool',
  ldap_ca_file: 'text',
};

const SYSTEM_KEYS = {
  project_creation_restriction: 'restriction',
  self_registration: 'bool',
  token_expiration: 'int',
  robot_token_duration: 'int',
  robot_name_prefix: 'text',
};

const EMAIL_KEYS = {
  email_host: 'text',
  email_port: 'int',
  email_username: 'text',
  email_password: 'secret',
  email_from: 'text',
  email_identity: 'text',
  email_ssl: 'bool',
  email_insecure: 'bool',
};

const KINDS = { ...AUTH_KEYS, ...SYSTEM_KEYS, ...EMAIL_KEYS };

// the catalog's words for each key (static calls: test/i18n.test.js finds them)
function label(key) {
  return {
    auth_mode: t('settings.authMode'),
    ldap_url: t('settings.ldapUrl'),
    ldap_search_dn: t('settings.ldapSearchDn'),
    ldap_search_password: t('settings.ldapSearchPassword'),
    ldap_base_dn: t('settings.ldapBaseDn'),
    ldap_filter: t('settings.ldapFilter'),
    ldap_uid: t('settings.ldapUid'),
    ldap_scope: t('settings.ldapScope'),
    ldap_timeout: t('settings.ldapTimeout'),
    ldap_verify_cert: t('settings.ldapVerifyCert'),
    ldap_ca_file: t('settings.ldapCaFile'),
    project_creation_restriction: t('settings.creation'),
    self_registration: t('settings.selfRegistration'),
    token_expiration: t('settings.tokenExpiration'),
    robot_token_duration: t('settings.robotTokenDuration'),
    robot_name_prefix: t('settings.robotNamePrefix'),
    email_host: t('settings.emailHost'),
    email_port: t('settings.emailPort'),
    email_username: t('settings.emailUsername'),
    email_password: t('settings.emailPassword'),
    email_from: t('settings.emailFrom'),
    email_identity: t('settings.emailIdentity'),
    email_ssl: t('settings.emailSsl'),
    email_insecure: t('settings.emailInsecure'),
  }[key];
}

function hint(key) {
  return {
    ldap_url: t('settings.ldapUrl.hint'),
    ldap_search_password: t('settings.ldapSearchPassword.hint'),
    ldap_filter: t('settings.ldapFilter.hint'),
    ldap_timeout: t('settings.seconds'),
    ldap_ca_file: t('settings.ldapCaFile.hint'),
    self_registration: t('settings.selfRegistration.hint'),
    token_expiration: t('settings.tokenExpiration.hint'),
    robot_token_duration: t('settings.robotTokenDuration.hint'),
    email_password: t('settings.ldapSearchPassword.hint'),
    email_from: t('settings.emailFrom.hint'),
    email_ssl: t('settings.emailSsl.hint'),
    email_insecure: t('settings.emailInsecure.hint'),
  }[key];
}

// the form's text of an integer, or null when it is not one
function intOf(s) {
  const v = String(s).trim();
  return /^\d{1,9}$/.test(v) ? Number(v) : null;
}

// the choices of a select: [value, words]; numbers stay numbers
const CHOICES = {
  auth_mode: () => [
    ['db_auth', t('settings.authMode.db')],
    ['ldap_auth', t('settings.authMode.ldap')],
  ],
  restriction: () => [
    ['everyone', t('settings.creation.everyone')],
    ['adminonly', t('settings.creation.adminonly')],
  ],
  scope: () => [
    [0, t('settings.ldapScope.base')],
    [1, t('settings.ldapScope.one')],
    [2, t('settings.ldapScope.sub')],
  ],
};

function Input({ name, kind, value, editable, onChange }) {
  const common = { name, id: `cfg-${name}`, disabled: editable === false };
  if (CHOICES[kind]) {
    const choices = CHOICES[kind]();
    const pick = (v) => choices.find(([c]) => String(c) === v)[0];
    return (
      <select {...common} value={String(value)} onChange={(e) => onChange(pick(e.currentTarget.value))}>
        {choices.map(([v, words]) => <option value={String(v)}>{words}</option>)}
      </select>
    );
  }
  switch (kind) {
  case 'bool':
    return (
      <input {...common} type="checkbox" checked={!!value}
             onChange={(e) => onChange(e.currentTarget.checked)} />
    );
  case 'int':
    return (
      <input {...common} inputMode="numeric" value={String(value)}
             onInput={(e) => onChange(e.currentTarget.value)} />
    );
  case 'secret':
    return (
      <input {...common} type="password" value={value} autocomplete="new-password"
             placeholder={t('settings.ldapSearchPassword.placeholder')}
             onInput={(e) => onChange(e.currentTarget.value)} />
    );
  default:
    return (
      <input {...common} value={value} autocomplete="off" spellcheck={false}
             onInput={(e) => onChange(e.currentTarget.value)} />
    );
  }
}

// The keys of form that differ from what was loaded, with the values the
// API takes; null if a number is not one.
function changes(form, loaded, keys) {
  const out = {};
  for (const k of keys) {
    if (SECRETS.includes(k)) {
      if (form[k]) {
        out[k] = form[k];
      }
      continue;
    }
    if (!(k in loaded)) {
      continue;
    }
    let v = form[k];
    if (KINDS[k] === 'int') {
      v = intOf(v);
      if (v === null) {
        return null;
      }
    }
    if (v !== loaded[k].value) {
      out[k] = v;
    }
  }
  return out;
}

export function SettingsPage({ query }) {
  const tab = ['system', 'email'].includes(query.get('tab')) ? query.get('tab') : 'auth';
  const cfg = useLoad(() => api('GET', '/configurations'), []);
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [ping, setPing] = useState(null);        // null, 'ok' or an error

  const loaded = cfg.data ? cfg.data.data : null;

  useEffect(() => {
    if (loaded) {
      const f = Object.fromEntries(SECRETS.map((k) => [k, '']));
      for (const [k, v] of Object.entries(loaded)) {
        f[k] = v.value;
      }
      setForm(f);
    }
  }, [loaded]);

  // a test's answer belongs to the tab it was asked from
  useEffect(() => setPing(null), [tab]);

  const set = (k) => (v) => {
    setForm({ ...form, [k]: v });
    setSaved(false);
  };

  const all = Object.keys(KINDS);
  const diff = form && loaded ? changes(form, loaded, all) : {};
  const badInt = (k) => KINDS[k] === 'int' && form && intOf(form[k]) === null;

  const save = async (e) => {
    e.preventDefault();
    if (!diff || Object.keys(diff).length === 0) {
      return;
    }
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      await api('PUT', '/configurations', { body: diff });
      setSaved(true);
      cfg.reload();
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };

  // the LDAP or email settings as the form has them, over the stored ones
  const test = (keys, path) => async () => {
    setPing(null);
    const body = {};
    for (const k of Object.keys(keys)) {
      if (k === 'auth_mode' || (SECRETS.includes(k) ? !form[k] : !(k in loaded))) {
        continue;
      }
      const v = KINDS[k] === 'int' ? intOf(form[k]) : form[k];
      if (v !== null) {
        body[k] = v;
      }
    }
    try {
      await api('POST', path, { body });
      setPing('ok');
    } catch (err) {
      setPing(err);
    }
  };
  const testLdap = test(AUTH_KEYS, '/ldap/ping');
  const testEmail = test(EMAIL_KEYS, '/email/ping');

  const field = (k) => {
    if (!SECRETS.includes(k) && !(k in loaded)) {
      return null;       // a key this authd does not have
    }
    const editable = SECRETS.includes(k) ? true : loaded[k].editable;
    return (
      <Field key={k} label={label(k)}
             error={badInt(k) ? t('settings.int') : null}
             hint={k === 'auth_mode' && !editable ? t('settings.authMode.locked') : hint(k)}>
        <Input name={k} kind={KINDS[k]} value={form[k]} editable={k === 'auth_mode' ? true : editable}
               onChange={set(k)} />
      </Field>
    );
  };

  const tabLink = (id, text) => (
    <a href={withQuery({ tab: id === 'auth' ? null : id })} role="tab" aria-selected={tab === id}
       class={tab === id ? 'tab current' : 'tab'}
       onClick={(e) => {
         e.preventDefault();
         navigate(withQuery({ tab: id === 'auth' ? null : id }), { replace: true });
       }}>
      {text}
    </a>
  );

  const ldap = form && form.auth_mode === 'ldap_auth';
  const n = diff ? Object.keys(diff).length : 0;

  return (
    <div class="page settings">
      <div class="page-head">
        <h1>{t('settings.title')}</h1>
      </div>
      <div class="tabs" role="tablist">
        {tabLink('auth', t('settings.tab.auth'))}
        {tabLink('system', t('settings.tab.system'))}
        {tabLink('email', t('settings.tab.email'))}
      </div>
      <ErrorBox error={cfg.error} context="settings.load" />
      {cfg.loading && !form ? <Loading /> : null}
      {form && loaded ? (
        <form class="settings-form" onSubmit={save} data-test="settings">
          {tab === 'auth' ? (
            <>
              {field('auth_mode')}
              {ldap ? (
                <fieldset class="settings-ldap">
                  <legend>{t('settings.ldap')}</legend>
                  {Object.keys(AUTH_KEYS).filter((k) => k !== 'auth_mode').map(field)}
                  <div class="toolbar">
                    <button type="button" onClick={testLdap} data-test="ldap-ping">
                      {t('settings.ldapPing')}
                    </button>
                  </div>
                  {ping === 'ok' ? <Notice>{t('settings.ldapPing.ok')}</Notice> : null}
                  <ErrorBox error={ping && ping !== 'ok' ? ping : null} context="settings.ldapPing" />
                </fieldset>
              ) : null}
            </>
          ) : tab === 'email' ? (
            <>
              {Object.keys(EMAIL_KEYS).map(field)}
              <div class="toolbar">
                <button type="button" onClick={testEmail} data-test="email-ping">
                  {t('settings.emailPing')}
                </button>
              </div>
              {ping === 'ok' ? <Notice>{t('settings.emailPing.ok')}</Notice> : null}
              <ErrorBox error={ping && ping !== 'ok' ? ping : null} context="settings.emailPing" />
            </>
          ) : (
            Object.keys(SYSTEM_KEYS).map(field)
          )}
          <ErrorBox error={error} context="settings.save" />
          {saved ? <Notice>{t('settings.saved')}</Notice> : null}
          <div class="toolbar">
            <button type="submit" class="primary" disabled={busy || !diff || n === 0}>
              {t('common.save')}
            </button>
            <span class="field-hint">
              {!diff ? t('settings.fix') : n ? t('settings.changed', { n }) : t('settings.unchanged')}
            </span>
          </div>
        </form>
      ) : null}
    </div>
  );
}
