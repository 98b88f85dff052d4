import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtTime, t } from '../i18n.js';
import { navigate, withQuery } from '../router.jsx';
import {
  Confirm, Dialog, Empty, ErrorBox, Field, Loading, Pager, SearchBox, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';
import { PasswordDialog, passwordProblem } from './Password.jsx';

function CreateUser({ onClose }) {
  const [f, setF] = useState({ username: '', email: '', realname: '', password: '', comment: '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const problem = passwordProblem(f.password);
  const ok = f.username.trim() && f.password && !problem;

  const submit = async (e) => {
    e.preventDefault();
    if (!ok) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = { username: f.username.trim(), password: f.password };
      for (const k of ['email', 'realname', 'comment']) {
        if (f[k].trim()) {
          body[k] = f[k].trim();
        }
      }
      await api('POST', '/users', { body });
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={t('users.new')} onClose={() => onClose(false)} footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form="user-form" class="primary" disabled={!ok || busy}>{t('common.create')}</button>
      </>
    }>
      <form id="user-form" onSubmit={submit}>
        <Field label={t('users.username')}>
          <input name="username" value={f.username} autocomplete="off" maxLength={255} onInput={set('username')} />
        </Field>
        <Field label={t('users.email')}>
          <input name="email" type="email" value={f.email} autocomplete="off" onInput={set('email')} />
        </Field>
        <Field label={t('users.realname')}>
          <input name="realname" value={f.realname} autocomplete="off" onInput={set('realname')} />
        </Field>
        <Field label={t('login.password')} hint={t('password.rule')} error={problem}>
          <input name="password" type="password" value={f.password} autocomplete="new-password" onInput={set('password')} />
        </Field>
        <Field label={t('users.comment')}>
          <input name="comment" value={f.comment} autocomplete="off" onInput={set('comment')} />
        </Field>
        <ErrorBox error={error} context="users.create" />
      </form>
    </Dialog>
  );
}

export function UsersPage({ ctx, query }) {
  const { page, size } = pageArgs(query);
  const name = query.get('name') || '';
  const list = useLoad(() => api('GET', '/users', {
    query: { page, page_size: size, q: name ? `username=~${name}` : '', sort: 'username' },
  }), [page, size, name]);
  const [creating, setCreating] = useState(false);
  const [resetting, setResetting] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const [error, setError] = useState(null);

  const setAdmin = async (u, flag) => {
    setError(null);
    try {
      await api('PUT', `/users/${u.user_id}/sysadmin`, { body: { sysadmin_flag: flag } });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>{t('users.title')}</h1>
        <div class="toolbar">
          <SearchBox value={name} placeholder={t('users.filter')}
                     onSearch={(s) => navigate(withQuery({ name: s, page: null }), { replace: true })} />
          <button type="button" class="primary" onClick={() => setCreating(true)}>+ {t('users.new')}</button>
        </div>
      </div>
      <ErrorBox error={list.error || error} context="users" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('users.none', { name })} /> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="users">
            <thead>
              <tr>
                <th>{t('users.username')}</th>
                <th>{t('users.email')}</th>
                <th>{t('users.realname')}</th>
                <th>{t('users.admin')}</th>
                <th>{t('common.created')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((u) => {
                const self = u.user_id === ctx.user.user_id;
                return (
                  <tr key={u.user_id} data-user={u.username}>
                    <td>{u.username}</td>
                    <td>{u.email}</td>
                    <td>{u.realname}</td>
                    <td>{u.sysadmin_flag ? t('common.yes') : t('common.no')}</td>
                    <td class="nowrap">{fmtTime(u.creation_time)}</td>
                    <td class="actions nowrap">
                      {!self ? (
                        <button type="button" class="small" onClick={() => setAdmin(u, !u.sysadmin_flag)}>
                          {u.sysadmin_flag ? t('users.revokeAdmin') : t('users.makeAdmin')}
                        </button>
                      ) : null}
                      <button type="button" class="small" onClick={() => setResetting(u)}>
                        {self ? t('menu.changePassword') : t('users.resetPassword')}
                      </button>
                      {!self ? (
                        <button type="button" class="small danger" onClick={() => setConfirm(u)}
                                aria-label={t('users.deleteNamed', { name: u.username })}>
                          {t('common.delete')}
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <Pager page={page} size={size} total={list.data.total}
                 onPage={(n) => navigate(withQuery({ page: n }))}
                 onSize={(n) => navigate(withQuery({ page_size: n, page: null }))} />
        </>
      ) : null}
      {creating ? <CreateUser onClose={(done) => { setCreating(false); if (done) list.reload(); }} /> : null}
      {resetting ? (
        <PasswordDialog user={ctx.user} target={resetting} onClose={(changedSelf) => {
          setResetting(null);
          if (changedSelf) {
            location.assign('/login');
          }
        }} />
      ) : null}
      {confirm ? (
        <Confirm title={t('users.delete')} action={t('common.delete')}
                 message={t('users.deleteConfirm', { name: confirm.username })}
                 onConfirm={() => api('DELETE', `/users/${confirm.user_id}`)}
                 onClose={(done) => { setConfirm(null); if (done) list.reload(); }} />
      ) : null}
    </div>
  );
}
