// Robot accounts: the "Robot Accounts" tab of a project (its project-level
// robots) and Administration > Robot Accounts (system-level robots).  A
// new or refreshed secret is shown once, to copy or download; authd never
// sends it again.

import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtTime, t } from '../i18n.js';
import { navigate, withQuery } from '../router.jsx';
import {
  Confirm, CopyButton, Dialog, Empty, ErrorBox, Field, Loading, Pager, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';

const ACTIONS = ['pull', 'push', 'delete'];

function accessOf(robot) {
  const out = [];
  for (const p of robot.permissions || []) {
    const acts = (p.access || []).filter((a) => a.resource === 'repository').map((a) => a.action);
    out.push(`${p.namespace === '*' ? t('robots.allProjects') : p.namespace}: ${acts.join(', ')}`);
  }
  return out.join('; ');
}

function expiresText(robot) {
  if (robot.expires_at === -1) {
    return t('robots.never');
  }
  const when = fmtTime(new Date(robot.expires_at * 1000).toISOString());
  return robot.expires_at * 1000 < Date.now() ? t('robots.expired', { when }) : when;
}

// The secret, once: shown, copied, downloaded as Harbor's JSON file.
function SecretDialog({ name, secret, onClose }) {
  const download = () => {
    const blob = new Blob([JSON.stringify({ name, secret }, null, 2)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${name}.json`;
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  return (
    <Dialog title={t('robots.secretTitle')} onClose={onClose} footer={
      <button type="button" class="primary" onClick={onClose}>{t('robots.secretDone')}</button>
    }>
      <p class="alert alert-info" role="status">{t('robots.secretOnce')}</p>
      <Field label={t('robots.name')}>
        <pre class="mono break" data-test="robot-name">{name}</pre>
      </Field>
      <Field label={t('robots.secret')}>
        <pre class="mono break" data-test="robot-secret">{secret}</pre>
      </Field>
      <div class="toolbar">
        <CopyButton text={secret} label={t('robots.copySecret')} />
        <button type="button" onClick={download} data-test="robot-download">{t('robots.download')}</button>
      </div>
    </Dialog>
  );
}

function NewRobot({ project, onClose, onSecret }) {
  const [f, setF] = useState({ name: '', description: '', duration: '30', never: false, namespaces: '*' });
  const [acts, setActs] = useState({ pull: true, push: false, delete: false });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const chosen = ACTIONS.filter((a) => acts[a]);
  const ok = f.name.trim() && chosen.length > 0 && (f.never || Number(f.duration) >= 1);

  const submit = async (e) => {
    e.preventDefault();
    if (!ok) {
      return;
    }
    setBusy(true);
    setError(null);
    const access = chosen.map((action) => ({ resource: 'repository', action }));
    const namespaces = project ? [project.name]
      : f.namespaces.split(/[\s,]+/).filter(Boolean);
    try {
      const r = await api('POST', '/robots', {
        body: {
          name: f.name.trim(),
          description: f.description.trim(),
          level: project ? 'project' : 'system',
          duration: f.never ? -1 : Number(f.duration),
          permissions: namespaces.map((namespace) => ({ kind: 'project', namespace, access })),
        },
      });
      onSecret(r.data.name, r.data.secret);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={t('robots.new')} onClose={() => onClose(false)} footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form="robot-form" class="primary" disabled={!ok || busy}>{t('common.create')}</button>
      </>
    }>
      <form id="robot-form" onSubmit={submit}>
        <Field label={t('robots.name')} hint={t('robots.nameHint')}>
          <input name="name" value={f.name} autocomplete="off" maxLength={128} onInput={set('name')} />
        </Field>
        <Field label={t('robots.description')}>
          <input name="description" value={f.description} autocomplete="off" onInput={set('description')} />
        </Field>
        <Field label={t('robots.duration')} hint={t('robots.durationHint')}>
          <input name="duration" type="number" min="1" value={f.duration} disabled={f.never}
                 onInput={set('duration')} />
        </Field>
        <label class="check">
          <input type="checkbox" name="never" checked={f.never}
                 onChange={(e) => setF({ ...f, never: e.currentTarget.checked })} />
          {' '}{t('robots.neverExpires')}
        </label>
        {project ? null : (
          <Field label={t('robots.namespaces')} hint={t('robots.namespacesHint')}>
            <input name="namespaces" value={f.namespaces} autocomplete="off" onInput={set('namespaces')} />
          </Field>
        )}
        <fieldset class="checks">
          <legend>{t('robots.permissions')}</legend>
          {ACTIONS.map((a) => (
            <label class="check">
              <input type="checkbox" name={`perm-${a}`} checked={acts[a]}
                     onChange={(e) => setActs({ ...acts, [a]: e.currentTarget.checked })} />
              {' '}{t(`robots.perm.${a}`)}
            </label>
          ))}
        </fieldset>
        <ErrorBox error={error} context="robots.create" />
      </form>
    </Dialog>
  );
}

function RobotList({ project, query, manage }) {
  const { page, size } = pageArgs(query);
  const q = project ? `level=project,project_id=${project.project_id}` : 'level=system';
  const list = useLoad(() => api('GET', '/robots', { query: { page, page_size: size, q } }),
    [q, page, size]);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const [refreshing, setRefreshing] = useState(null);
  const [error, setError] = useState(null);

  const toggle = async (r) => {
    setError(null);
    try {
      await api('PUT', `/robots/${r.id}`, { body: { disable: !r.disable } });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section>
      <div class="toolbar">
        {manage ? (
          <button type="button" class="primary" onClick={() => setCreating(true)}>+ {t('robots.new')}</button>
        ) : <span class="muted">{t('robots.readOnly')}</span>}
      </div>
      <ErrorBox error={list.error || error} context="robots" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('robots.empty')}>{t('robots.emptyHint')}</Empty> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="robots">
            <thead>
              <tr>
                <th>{t('robots.name')}</th>
                <th>{t('robots.status')}</th>
                <th>{t('robots.permissions')}</th>
                <th>{t('robots.expires')}</th>
                <th>{t('robots.description')}</th>
                <th>{t('common.created')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((r) => (
                <tr key={r.id} data-robot={r.name}>
                  <td class="mono">{r.name}</td>
                  <td>{r.disable
                    ? <span class="badge badge-bad">{t('robots.disabled')}</span>
                    : t('robots.enabled')}</td>
                  <td>{accessOf(r)}</td>
                  <td class="nowrap">{expiresText(r)}</td>
                  <td>{r.description}</td>
                  <td class="nowrap">{fmtTime(r.creation_time)}</td>
                  <td class="actions nowrap">
                    {manage && r.editable ? (
                      <>
                        <button type="button" class="small" onClick={() => toggle(r)}>
                          {r.disable ? t('robots.enable') : t('robots.disable')}
                        </button>
                        <button type="button" class="small" onClick={() => setRefreshing(r)}>
                          {t('robots.refresh')}
                        </button>
                        <button type="button" class="small danger" onClick={() => setDeleting(r)}
                                aria-label={t('robots.deleteNamed', { name: r.name })}>
                          {t('common.delete')}
                        </button>
                      </>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} size={size} total={list.data.total}
                 onPage={(n) => navigate(withQuery({ page: n }))}
                 onSize={(n) => navigate(withQuery({ page_size: n, page: null }))} />
        </>
      ) : null}
      {creating ? (
        <NewRobot project={project}
                  onClose={() => setCreating(false)}
                  onSecret={(name, s) => { setCreating(false); setSecret({ name, secret: s }); list.reload(); }} />
      ) : null}
      {secret ? <SecretDialog name={secret.name} secret={secret.secret} onClose={() => setSecret(null)} /> : null}
      {refreshing ? (
        <Confirm title={t('robots.refresh')} action={t('robots.refresh')}
                 message={t('robots.refreshConfirm', { name: refreshing.name })}
                 onConfirm={async () => {
                   const r = await api('PATCH', `/robots/${refreshing.id}`, { body: {} });
                   setSecret({ name: refreshing.name, secret: r.data.secret });
                 }}
                 onClose={() => setRefreshing(null)} />
      ) : null}
      {deleting ? (
        <Confirm title={t('robots.delete')} action={t('common.delete')}
                 message={t('robots.deleteConfirm', { name: deleting.name })}
                 onConfirm={() => api('DELETE', `/robots/${deleting.id}`)}
                 onClose={(done) => { setDeleting(null); if (done) list.reload(); }} />
      ) : null}
    </section>
  );
}

// The project's tab: its administrators manage, other members read.
export function ProjectRobots({ project, ctx, query }) {
  const manage = ctx.user.sysadmin_flag || project.current_user_role_id === 1;
  return <RobotList project={project} query={query} manage={manage} />;
}

// Administration > Robot Accounts: system-level robots.
export function SystemRobotsPage({ query }) {
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t('robots.systemTitle')}</h1>
      </div>
      <p class="muted">{t('robots.systemHint')}</p>
      <RobotList project={null} query={query} manage />
    </div>
  );
}
