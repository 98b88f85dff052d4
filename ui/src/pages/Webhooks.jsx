// Webhooks: a project's Webhooks tab (its administrators'): the policies
// (endpoint, auth header, certificate check, event types, enabled) and,
// for the policy picked, its delivery log (the executions: status, event,
// tries, times, and each one's log).

import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtTime, t } from '../i18n.js';
import { navigate, withQuery } from '../router.jsx';
import {
  Confirm, Dialog, Empty, ErrorBox, Field, FormDialog, Loading, Pager, UrlPager, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';

const STATUS_CLASS = { Success: 'badge-public', Failed: 'badge-bad' };

function eventName(type) {
  const k = `webhooks.event.${type}`;
  const s = t(k);
  return s === k ? type : s;
}

function statusName(status) {
  const k = `webhooks.status.${status}`;
  const s = t(k);
  return s === k ? status : s;
}

function PolicyForm({ base, policy, eventTypes, onClose }) {
  const tg = (policy && policy.targets && policy.targets[0]) || {};
  const [f, setF] = useState({
    name: policy ? policy.name : '',
    description: policy ? policy.description || '' : '',
    address: tg.address || '',
    auth_header: tg.auth_header || '',
    skip_cert_verify: !!tg.skip_cert_verify,
    enabled: policy ? !!policy.enabled : true,
  });
  const [types, setTypes] = useState(policy ? policy.event_types || [] : [...eventTypes]);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const check = (k) => (e) => setF({ ...f, [k]: e.currentTarget.checked });
  const address = f.address.trim();
  const badAddress = address && !/^https?:\/\/[^\s/]+/.test(address) ? t('webhooks.addressRule') : '';
  const ready = f.name.trim() && address && !badAddress && types.length > 0;

  const save = () => {
    const body = {
      name: f.name.trim(),
      description: f.description.trim(),
      enabled: f.enabled,
      event_types: eventTypes.filter((x) => types.includes(x)),
      targets: [{
        type: 'http',
        address,
        auth_header: f.auth_header.trim(),
        skip_cert_verify: f.skip_cert_verify,
        payload_format: 'Default',
      }],
    };
    return policy ? api('PUT', `${base}/${policy.id}`, { body }) : api('POST', base, { body });
  };

  return (
    <FormDialog id="webhook-form" title={policy ? t('webhooks.edit') : t('webhooks.new')}
                submitLabel={policy ? t('common.save') : t('common.create')} wide
                ready={!!ready} onSubmit={save} onClose={onClose} context="webhooks.save">
      <Field label={t('webhooks.name')}>
        <input name="name" value={f.name} autocomplete="off" maxLength={256} onInput={set('name')} />
      </Field>
      <Field label={t('webhooks.description')}>
        <input name="description" value={f.description} autocomplete="off" onInput={set('description')} />
      </Field>
      <Field label={t('webhooks.address')} hint={t('webhooks.addressHint')} error={badAddress}>
        <input name="address" value={f.address} autocomplete="off" placeholder="https://"
               onInput={set('address')} />
      </Field>
      <Field label={t('webhooks.authHeader')} hint={t('webhooks.authHeaderHint')}>
        <input name="auth_header" value={f.auth_header} autocomplete="off" onInput={set('auth_header')} />
      </Field>
      <label class="check">
        <input type="checkbox" name="skip_cert_verify" checked={f.skip_cert_verify}
               onChange={check('skip_cert_verify')} />
        {' '}{t('webhooks.skipCertVerify')}
      </label>
      <fieldset class="checks">
        <legend>{t('webhooks.eventTypes')}</legend>
        {eventTypes.map((x) => (
          <label class="check">
            <input type="checkbox" name={`event-${x}`} checked={types.includes(x)}
                   onChange={(e) => setTypes(e.currentTarget.checked
                     ? [...types, x] : types.filter((y) => y !== x))} />
            {' '}{eventName(x)}
          </label>
        ))}
      </fieldset>
      <label class="check">
        <input type="checkbox" name="enabled" checked={f.enabled} onChange={check('enabled')} />
        {' '}{t('webhooks.enabled')}
      </label>
    </FormDialog>
  );
}

// The delivery log of one policy, newest first, paged here (the URL's
// page is the policies'); read again every 2 s while a delivery is
// pending or running.
function Deliveries({ base, policy }) {
  const path = `${base}/${policy.id}/executions`;
  const [at, setAt] = useState({ page: 1, size: 10 });
  const list = useLoad(() => api('GET', path, { query: { page: at.page, page_size: at.size } }),
    [path, at.page, at.size]);
  const [shown, setShown] = useState(null);
  const busy = list.data && (list.data.data || []).some((x) => x.status === 'Pending' || x.status === 'Running');

  useEffect(() => {
    if (!busy) {
      return undefined;
    }
    const id = setTimeout(list.reload, 2000);
    return () => clearTimeout(id);
  }, [list.data]);

  return (
    <section class="deliveries" data-test="deliveries">
      <div class="page-head">
        <h2>{t('webhooks.deliveriesOf', { name: policy.name })}</h2>
        <button type="button" class="small" onClick={list.reload}>{t('webhooks.refresh')}</button>
      </div>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && !(list.data.data || []).length ? <Empty title={t('webhooks.noDeliveries')} /> : null}
      {list.data && (list.data.data || []).length ? (
        <table class="grid" data-test="executions">
          <thead>
            <tr>
              <th>{t('webhooks.delivery')}</th>
              <th>{t('webhooks.event')}</th>
              <th>{t('webhooks.status')}</th>
              <th class="num">{t('webhooks.tries')}</th>
              <th>{t('webhooks.started')}</th>
              <th>{t('webhooks.ended')}</th>
              <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((x) => {
              const attrs = x.extra_attrs || {};
              return (
                <tr key={x.id} data-execution={x.id} data-status={x.status}>
                  <td class="mono">{x.id}</td>
                  <td>{eventName(attrs.event_type || '')}</td>
                  <td><span class={`badge ${STATUS_CLASS[x.status] || ''}`}>{statusName(x.status)}</span></td>
                  <td class="num">{attrs.tries ?? '—'}</td>
                  <td class="nowrap">{fmtTime(x.start_time)}</td>
                  <td class="nowrap">{fmtTime(x.end_time)}</td>
                  <td class="actions">
                    <button type="button" class="small" onClick={() => setShown(x)}>{t('webhooks.log')}</button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
      {list.data && (list.data.data || []).length ? (
        <Pager page={at.page} size={at.size} total={list.data.total}
               onPage={(n) => setAt({ ...at, page: n })} onSize={(n) => setAt({ page: 1, size: n })} />
      ) : null}
      {shown ? (
        <Dialog title={t('webhooks.logOf', { id: shown.id })} wide onClose={() => setShown(null)} footer={
          <button type="button" class="primary" onClick={() => setShown(null)}>{t('webhooks.close')}</button>
        }>
          {shown.log ? <pre class="mono break" data-test="delivery-log">{shown.log}</pre>
            : <p class="muted">{t('webhooks.noLog')}</p>}
        </Dialog>
      ) : null}
    </section>
  );
}

export function ProjectWebhooks({ project, query }) {
  const { page, size } = pageArgs(query);
  const base = `/projects/${encodeURIComponent(project.name)}/webhook/policies`;
  const list = useLoad(() => api('GET', base, { query: { page, page_size: size } }),
    [base, page, size]);
  const events = useLoad(() => api('GET', `/projects/${encodeURIComponent(project.name)}/webhook/events`),
    [project.name]);
  const [editing, setEditing] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const [error, setError] = useState(null);
  const picked = Number(query.get('policy_id')) || 0;
  const policies = (list.data && list.data.data) || [];
  const current = policies.find((p) => p.id === picked);
  const eventTypes = (events.data && events.data.data && events.data.data.event_type) || [];

  const toggle = async (p) => {
    setError(null);
    try {
      await api('PUT', `${base}/${p.id}`, { body: { enabled: !p.enabled } });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section>
      <div class="toolbar">
        <button type="button" class="primary" disabled={!eventTypes.length}
                onClick={() => setEditing({})}>+ {t('webhooks.new')}</button>
      </div>
      <ErrorBox error={list.error || events.error} />
      <ErrorBox error={error} context="webhooks.save" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('webhooks.empty')}>{t('webhooks.emptyHint')}</Empty> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="webhooks">
            <thead>
              <tr>
                <th>{t('webhooks.name')}</th>
                <th>{t('webhooks.status')}</th>
                <th>{t('webhooks.address')}</th>
                <th>{t('webhooks.eventTypes')}</th>
                <th>{t('common.created')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {policies.map((p) => (
                <tr key={p.id} data-policy={p.name} class={p.id === picked ? 'selected' : ''}>
                  <td>{p.name}{p.description ? <div class="muted small-text">{p.description}</div> : null}</td>
                  <td>{p.enabled ? t('webhooks.enabled')
                    : <span class="badge badge-bad">{t('webhooks.disabled')}</span>}</td>
                  <td class="mono break">{p.targets && p.targets[0] ? p.targets[0].address : ''}</td>
                  <td>{(p.event_types || []).map(eventName).join(', ')}</td>
                  <td class="nowrap">{fmtTime(p.creation_time)}</td>
                  <td class="actions nowrap">
                    <button type="button" class="small" aria-pressed={p.id === picked}
                            onClick={() => navigate(withQuery({ policy_id: p.id }), { replace: true })}>
                      {t('webhooks.deliveries')}
                    </button>
                    <button type="button" class="small" onClick={() => toggle(p)}>
                      {p.enabled ? t('webhooks.disable') : t('webhooks.enable')}
                    </button>
                    <button type="button" class="small" onClick={() => setEditing(p)}
                            aria-label={t('webhooks.editNamed', { name: p.name })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="small danger" onClick={() => setDeleting(p)}
                            aria-label={t('webhooks.deleteNamed', { name: p.name })}>
                      {t('common.delete')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <UrlPager page={page} size={size} total={list.data.total} />
        </>
      ) : null}
      {current ? <Deliveries base={base} policy={current} key={current.id} /> : null}
      {editing ? (
        <PolicyForm base={base} policy={editing.id ? editing : null} eventTypes={eventTypes}
                    onClose={(done) => { setEditing(null); if (done) list.reload(); }} />
      ) : null}
      {deleting ? (
        <Confirm title={t('webhooks.delete')} action={t('common.delete')}
                 message={t('webhooks.deleteConfirm', { name: deleting.name })}
                 onConfirm={() => api('DELETE', `${base}/${deleting.id}`)}
                 onClose={(done) => {
                   setDeleting(null);
                   if (done) {
                     if (deleting.id === picked) {
                       navigate(withQuery({ policy_id: null }), { replace: true });
                     }
                     list.reload();
                   }
                 }} />
      ) : null}
    </section>
  );
}
