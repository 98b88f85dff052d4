// Administration > Groups: LDAP user groups (/usergroups), known by
// their DN.  Only with auth_mode ldap_auth; otherwise a line says so.

import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { navigate, withQuery } from '../router.jsx';
import {
  Confirm, Dialog, Empty, ErrorBox, Field, Loading, Notice, Pager, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';

// Search the directory's groups by name: [{group_name, ldap_group_dn}]
export function GroupFinder({ onPick }) {
  const [q, setQ] = useState('');
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);

  const search = async () => {
    setError(null);
    try {
      const r = await api('GET', '/ldap/groups/search', { query: { groupname: q.trim() } });
      setFound(r.data || []);
    } catch (err) {
      setError(err);
      setFound(null);
    }
  };

  return (
    <div class="finder">
      <div class="field-row">
        <input type="search" name="group_search" value={q} placeholder={t('groups.searchPlaceholder')}
               aria-label={t('groups.search')} onInput={(e) => setQ(e.currentTarget.value)}
               onKeyDown={(e) => {
                 if (e.key === 'Enter') {
                   e.preventDefault();
                   search();
                 }
               }} />
        <button type="button" onClick={search}>{t('groups.search')}</button>
      </div>
      <ErrorBox error={error} context="groups.search" />
      {found && found.length === 0 ? <p class="muted">{t('groups.searchNone')}</p> : null}
      {found && found.length ? (
        <ul class="plain" data-test="ldap-groups">
          {found.map((g) => (
            <li>
              <button type="button" class="link" data-dn={g.ldap_group_dn} onClick={() => onPick(g)}>
                {g.group_name}
              </button>
              <span class="muted">{` ${g.ldap_group_dn}`}</span>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function GroupDialog({ group, onClose }) {
  const [f, setF] = useState({ dn: group ? group.ldap_group_dn : '', name: group ? group.group_name : '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const ok = group ? f.name.trim() : f.dn.trim();

  const submit = async (e) => {
    e.preventDefault();
    if (!ok) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (group) {
        await api('PUT', `/usergroups/${group.id}`, { body: { group_name: f.name.trim() } });
      } else {
        const body = { group_type: 1, ldap_group_dn: f.dn.trim() };
        if (f.name.trim()) {
          body.group_name = f.name.trim();
        }
        await api('POST', '/usergroups', { body });
      }
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={group ? t('groups.rename') : t('groups.new')} onClose={() => onClose(false)} footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form="group-form" class="primary" disabled={!ok || busy}>
          {group ? t('common.save') : t('common.create')}
        </button>
      </>
    }>
      <form id="group-form" onSubmit={submit}>
        {group ? null : <GroupFinder onPick={(g) => setF({ dn: g.ldap_group_dn, name: g.group_name })} />}
        <Field label={t('groups.dn')} hint={group ? null : t('groups.dnHint')}>
          <input name="ldap_group_dn" value={f.dn} autocomplete="off" disabled={!!group}
                 onInput={(e) => setF({ ...f, dn: e.currentTarget.value })} />
        </Field>
        <Field label={t('groups.name')} hint={group ? null : t('groups.nameHint')}>
          <input name="group_name" value={f.name} autocomplete="off" maxLength={255}
                 onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
        </Field>
        <ErrorBox error={error} context="groups.save" />
      </form>
    </Dialog>
  );
}

export function UserGroupsPage({ ctx, query }) {
  const ldap = ctx.info && ctx.info.auth_mode === 'ldap_auth';
  const { page, size } = pageArgs(query);
  const list = useLoad(() => (ldap ? api('GET', '/usergroups', { query: { page, page_size: size } })
    : Promise.resolve(null)), [page, size, ldap]);
  const [editing, setEditing] = useState(null);
  const [removing, setRemoving] = useState(null);

  const close = (changed) => {
    setEditing(null);
    setRemoving(null);
    if (changed) {
      list.reload();
    }
  };

  if (!ldap) {
    return (
      <div class="page">
        <h1>{t('groups.title')}</h1>
        <Notice>{t('groups.needLdap')}</Notice>
      </div>
    );
  }

  const rows = list.data ? list.data.data || [] : [];
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t('groups.title')}</h1>
        <div class="toolbar">
          <button type="button" class="primary" onClick={() => setEditing({})}>+ {t('groups.new')}</button>
        </div>
      </div>
      <ErrorBox error={list.error} context="groups" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && rows.length === 0 ? <Empty title={t('groups.none')} /> : null}
      {rows.length ? (
        <>
          <table class="grid" data-test="groups">
            <thead>
              <tr>
                <th>{t('groups.name')}</th>
                <th>{t('groups.type')}</th>
                <th>{t('groups.dn')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {rows.map((g) => (
                <tr key={g.id} data-group={g.group_name}>
                  <td>{g.group_name}</td>
                  <td>{t('groups.typeLdap')}</td>
                  <td>{g.ldap_group_dn}</td>
                  <td class="actions nowrap">
                    <button type="button" class="small" onClick={() => setEditing(g)}
                            aria-label={t('groups.renameNamed', { name: g.group_name })}>
                      {t('groups.rename')}
                    </button>
                    <button type="button" class="small danger" onClick={() => setRemoving(g)}
                            aria-label={t('groups.deleteNamed', { name: g.group_name })}>
                      {t('common.delete')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} size={size} total={list.data.total}
                 onPage={(n) => navigate(withQuery({ page: n }))}
                 onSize={(s) => navigate(withQuery({ page_size: s, page: null }))} />
        </>
      ) : null}
      {editing ? <GroupDialog group={editing.id ? editing : null} onClose={close} /> : null}
      {removing ? (
        <Confirm title={t('groups.delete')} action={t('common.delete')}
                 message={t('groups.deleteConfirm', { name: removing.group_name })}
                 onConfirm={() => api('DELETE', `/usergroups/${removing.id}`)}
                 onClose={close} />
      ) : null}
    </div>
  );
}
