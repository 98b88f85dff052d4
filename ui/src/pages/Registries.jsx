// Administration > Registries: the far ends of replication.
// The stored secret is never read back: the API answers "*****", and
// the form sends access_secret only when something was typed.

import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtTime, t } from '../i18n.js';
import { navigate, withQuery } from '../router.jsx';
import {
  Dialog, Empty, ErrorBox, Field, Loading, Notice, Pager, SearchBox, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';

const SECRET_SET = '*****';

function RegistryDialog({ reg, onClose }) {
  const types = useLoad(() => api('GET', '/replication/adapters').then((r) => r.data || []), []);
  const [f, setF] = useState({
    type: reg ? reg.type : 'harbor',
    name: reg ? reg.name : '',
    description: reg ? reg.description || '' : '',
    url: reg ? reg.url : '',
    access_key: reg && reg.credential ? reg.credential.access_key || '' : '',
    access_secret: '',
    insecure: reg ? !!reg.insecure : false,
    ca_certificate: reg ? reg.ca_certificate || '' : '',
  });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [ping, setPing] = useState(null);       // {ok} or {error}
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const hasSecret = reg && reg.credential && reg.credential.access_secret === SECRET_SET;
  const ok = f.name.trim() && f.url.trim();

  // the form as the API takes it; the secret only when typed
  const body = () => {
    const b = {
      name: f.name.trim(),
      url: f.url.trim(),
      description: f.description,
      insecure: f.insecure,
      ca_certificate: f.ca_certificate,
      credential: { type: 'basic', access_key: f.access_key.trim() },
    };
    if (!reg) {
      b.type = f.type;
    }
    if (f.access_secret) {
      b.credential.access_secret = f.access_secret;
    }
    return b;
  };

  const test = async () => {
    setPing(null);
    const b = body();
    const p = {
      type: reg ? reg.type : f.type,
      url: b.url,
      insecure: b.insecure,
      ca_certificate: b.ca_certificate,
      access_key: b.credential.access_key,
    };
    if (reg) {
      p.id = reg.id;
    }
    if (f.access_secret) {
      p.access_secret = f.access_secret;
    }
    try {
      await api('POST', '/registries/ping', { body: p });
      setPing({ ok: true });
    } catch (err) {
      setPing({ error: err });
    }
  };

  const submit = async (e) => {
    e.preventDefault();
    if (!ok) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (reg) {
        await api('PUT', `/registries/${reg.id}`, { body: body() });
      } else {
        await api('POST', '/registries', { body: body() });
      }
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={reg ? t('registries.edit') : t('registries.new')} onClose={() => onClose(false)} wide footer={
      <>
        <button type="button" onClick={test} disabled={!f.url.trim()} data-test="registry-ping">
          {t('registries.test')}
        </button>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form="registry-form" class="primary" disabled={!ok || busy}>
          {reg ? t('common.save') : t('common.create')}
        </button>
      </>
    }>
      <form id="registry-form" onSubmit={submit}>
        <Field label={t('registries.provider')}>
          <select name="type" value={f.type} disabled={!!reg} onChange={set('type')}>
            {(types.data || [f.type]).map((ty) => (
              <option value={ty}>{t(`registries.type.${ty}`)}</option>
            ))}
          </select>
        </Field>
        <Field label={t('registries.name')}>
          <input name="name" value={f.name} autocomplete="off" maxLength={255} onInput={set('name')} />
        </Field>
        <Field label={t('registries.description')}>
          <input name="description" value={f.description} autocomplete="off" onInput={set('description')} />
        </Field>
        <Field label={t('registries.url')} hint={t('registries.urlHint')}>
          <input name="url" value={f.url} autocomplete="off" placeholder="https://" onInput={set('url')} />
        </Field>
        <Field label={t('registries.accessKey')}>
          <input name="access_key" value={f.access_key} autocomplete="off" onInput={set('access_key')} />
        </Field>
        <Field label={t('registries.accessSecret')}
               hint={hasSecret ? t('registries.secretUnchanged') : null}>
          <input name="access_secret" type="password" value={f.access_secret} autocomplete="new-password"
                 placeholder={hasSecret ? t('registries.secretPlaceholder') : ''}
                 onInput={set('access_secret')} />
        </Field>
        <label class="check">
          <input type="checkbox" name="insecure" checked={f.insecure}
                 onChange={(e) => setF({ ...f, insecure: e.currentTarget.checked })} />
          {' '}{t('registries.verifyOff')}
        </label>
        <Field label={t('registries.ca')} hint={t('registries.caHint')}>
          <textarea name="ca_certificate" rows={3} value={f.ca_certificate} onInput={set('ca_certificate')} />
        </Field>
        {ping && ping.ok ? <Notice kind="info">{t('registries.pingOk')}</Notice> : null}
        {ping && ping.error ? <ErrorBox error={ping.error} context="registries.ping" /> : null}
        <ErrorBox error={error} context="registries.save" />
      </form>
    </Dialog>
  );
}

// Confirm's dialog, with the 412 (a rule uses it) in its own words
function DeleteRegistry({ reg, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('DELETE', `/registries/${reg.id}`);
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={t('registries.delete')} onClose={() => onClose(false)} footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="button" class="danger primary" disabled={busy} onClick={go}>{t('common.delete')}</button>
      </>
    }>
      <p>{t('registries.deleteConfirm', { name: reg.name })}</p>
      <ErrorBox error={error} context="registries.delete" />
    </Dialog>
  );
}

export function registryStatus(s) {
  return t(s === 'healthy' ? 'registries.status.healthy'
    : s === 'unhealthy' ? 'registries.status.unhealthy' : 'registries.status.unknown');
}

export function RegistriesPage({ query }) {
  const { page, size } = pageArgs(query);
  const name = query.get('name') || '';
  const list = useLoad(() => api('GET', '/registries', {
    query: { page, page_size: size, q: name ? `name=~${name}` : '', sort: 'name' },
  }), [page, size, name]);
  const [editing, setEditing] = useState(null);    // {} new, or a registry
  const [removing, setRemoving] = useState(null);

  const close = (changed) => {
    setEditing(null);
    setRemoving(null);
    if (changed) {
      list.reload();
    }
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>{t('registries.title')}</h1>
        <div class="toolbar">
          <SearchBox value={name} placeholder={t('registries.filter')}
                     onSearch={(s) => navigate(withQuery({ name: s, page: null }), { replace: true })} />
          <button type="button" class="primary" onClick={() => setEditing({})}>+ {t('registries.new')}</button>
        </div>
      </div>
      <ErrorBox error={list.error} context="registries" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('registries.none')} /> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="registries">
            <thead>
              <tr>
                <th>{t('registries.name')}</th>
                <th>{t('registries.status')}</th>
                <th>{t('registries.url')}</th>
                <th>{t('registries.provider')}</th>
                <th>{t('registries.verify')}</th>
                <th>{t('common.created')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((r) => (
                <tr key={r.id} data-registry={r.name}>
                  <td>{r.name}</td>
                  <td>{registryStatus(r.status)}</td>
                  <td>{r.url}</td>
                  <td>{t(`registries.type.${r.type}`)}</td>
                  <td>{r.insecure ? t('common.no') : t('common.yes')}</td>
                  <td class="nowrap">{fmtTime(r.creation_time)}</td>
                  <td class="actions nowrap">
                    <button type="button" class="small" onClick={() => setEditing(r)}
                            aria-label={t('registries.editNamed', { name: r.name })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="small danger" onClick={() => setRemoving(r)}
                            aria-label={t('registries.deleteNamed', { name: r.name })}>
                      {t('common.delete')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} size={size} total={list.data.total}
                 onPage={(p) => navigate(withQuery({ page: p }))}
                 onSize={(s) => navigate(withQuery({ page_size: s, page: null }))} />
        </>
      ) : null}
      {editing ? <RegistryDialog reg={editing.id ? editing : null} onClose={close} /> : null}
      {removing ? <DeleteRegistry reg={removing} onClose={close} /> : null}
    </div>
  );
}
