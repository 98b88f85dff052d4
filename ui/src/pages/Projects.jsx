import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtNum, fmtTime, t } from '../i18n.js';
import { Link, navigate, withQuery } from '../router.jsx';
import {
  Confirm, Dialog, Empty, ErrorBox, Field, Loading, Pager, SearchBox, roleName, useLoad,
} from '../components.jsx';
import { LimitField, ProjectQuota, limitBytes, limitForm } from '../quota.jsx';

// Harbor's project name rule (authd checks the same)
export const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export function pageArgs(query) {
  const page = Math.max(1, Number(query.get('page')) || 1);
  const size = [10, 25, 50, 100].includes(Number(query.get('page_size')))
    ? Number(query.get('page_size')) : 10;
  return { page, size };
}

function CreateProject({ onClose, sysadmin }) {
  const [name, setName] = useState('');
  const [pub, setPub] = useState(false);
  const [limit, setLimit] = useState(limitForm(-1));
  const { bytes } = limitBytes(limit);
  const [proxy, setProxy] = useState(false);
  const [registry, setRegistry] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  // a proxy cache pulls through a registry endpoint: those are the admins'
  const regs = useLoad(() => (sysadmin
    ? api('GET', '/registries', { query: { page_size: 100, sort: 'name' } }).then((r) => r.data || [])
    : Promise.resolve([])), [sysadmin]);

  const problem = !name ? ''
    : name.length > 255 ? t('projects.nameTooLong')
      : !PROJECT_NAME.test(name) ? t('projects.nameRule') : '';

  const submit = async (e) => {
    e.preventDefault();
    if (!name || problem || bytes === null || (proxy && !registry)) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/projects', {
        body: {
          project_name: name,
          metadata: { public: pub ? 'true' : 'false' },
          ...(sysadmin ? { storage_limit: bytes } : {}),
          ...(proxy ? { registry_id: Number(registry) } : {}),
        },
      });
      onClose(name);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={t('projects.new')} onClose={() => onClose(null)} footer={
      <>
        <button type="button" onClick={() => onClose(null)}>{t('common.cancel')}</button>
        <button type="submit" form="project-form" class="primary"
                disabled={!name || !!problem || bytes === null || (proxy && !registry) || busy}>
          {t('common.create')}
        </button>
      </>
    }>
      <form id="project-form" onSubmit={submit}>
        <Field label={t('projects.name')} hint={t('projects.nameHint')} error={problem}>
          <input name="project_name" value={name} maxLength={255} autocomplete="off"
                 onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <label class="check">
          <input type="checkbox" name="public" checked={pub} onChange={(e) => setPub(e.currentTarget.checked)} />
          <span>{t('projects.public')}</span>
        </label>
        <p class="muted">{pub ? t('projects.publicHint') : t('projects.privateHint')}</p>
        {sysadmin ? <LimitField form={limit} onChange={setLimit} /> : null}
        {sysadmin ? (
          <>
            <label class="check">
              <input type="checkbox" name="proxy_cache" checked={proxy}
                     onChange={(e) => setProxy(e.currentTarget.checked)} />
              <span>{t('projects.proxyCache')}</span>
            </label>
            <p class="muted">{t('projects.proxyCacheHint')}</p>
            {proxy ? (
              <Field label={t('projects.proxyRegistry')}>
                <select name="registry_id" value={registry} onChange={(e) => setRegistry(e.currentTarget.value)}>
                  <option value="">{t('projects.proxyPick')}</option>
                  {(regs.data || []).map((r) => <option value={String(r.id)}>{`${r.name} (${r.url})`}</option>)}
                </select>
              </Field>
            ) : null}
            {proxy && regs.data && !regs.data.length ? <p class="muted">{t('projects.proxyNoRegistry')}</p> : null}
          </>
        ) : null}
        <ErrorBox error={error} context="projects.create" />
      </form>
    </Dialog>
  );
}

export function ProjectsPage({ ctx, query }) {
  const { page, size } = pageArgs(query);
  const name = query.get('name') || '';
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState(null);

  const list = useLoad(() => api('GET', '/projects', {
    query: { page, page_size: size, name, sort: 'name' },
  }), [page, size, name]);

  const canDelete = (p) => ctx.user.sysadmin_flag || p.current_user_role_id === 1;

  return (
    <div class="page">
      <div class="page-head">
        <h1>{t('projects.title')}</h1>
        <div class="toolbar">
          <SearchBox value={name} placeholder={t('projects.filter')}
                     onSearch={(s) => navigate(withQuery({ name: s, page: null }), { replace: true })} />
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            + {t('projects.new')}
          </button>
        </div>
      </div>

      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? (
        name ? (
          <Empty title={t('projects.noMatch', { name })}>{t('projects.noMatchHint')}</Empty>
        ) : (
          <Empty title={t('projects.empty')}>
            <p>{t('projects.emptyHint')}</p>
            <button type="button" class="primary" onClick={() => setCreating(true)}>+ {t('projects.new')}</button>
          </Empty>
        )
      ) : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="projects">
            <thead>
              <tr>
                <th>{t('projects.name')}</th>
                <th>{t('projects.access')}</th>
                <th>{t('projects.role')}</th>
                <th class="num">{t('projects.repoCount')}</th>
                <th>{t('quota.storage')}</th>
                <th>{t('common.created')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((p) => (
                <tr key={p.project_id}>
                  <td><Link href={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</Link></td>
                  <td>
                    <span class={`badge ${p.metadata && p.metadata.public === 'true' ? 'badge-public' : ''}`}>
                      {p.metadata && p.metadata.public === 'true' ? t('projects.publicLabel') : t('projects.privateLabel')}
                    </span>
                  </td>
                  <td>{roleName(p.current_user_role_id)}</td>
                  <td class="num">{fmtNum(p.repo_count)}</td>
                  <td><ProjectQuota name={p.name} /></td>
                  <td>{fmtTime(p.creation_time)}</td>
                  <td class="actions">
                    {canDelete(p) ? (
                      <button type="button" class="danger small" disabled={p.repo_count > 0}
                              title={p.repo_count > 0 ? t('projects.deleteNotEmpty') : t('projects.delete')}
                              aria-label={t('projects.deleteNamed', { name: p.name })}
                              onClick={() => setDeleting(p)}>
                        {t('common.delete')}
                      </button>
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
        <CreateProject sysadmin={!!ctx.user.sysadmin_flag} onClose={(created) => {
          setCreating(false);
          if (created) {
            navigate(`/projects/${encodeURIComponent(created)}`);
          }
        }} />
      ) : null}
      {deleting ? (
        <Confirm title={t('projects.delete')} action={t('common.delete')}
                 message={t('projects.deleteConfirm', { name: deleting.name })}
                 onConfirm={() => api('DELETE', `/projects/${encodeURIComponent(deleting.name)}`,
                   { headers: { 'X-Is-Resource-Name': 'true' } })}
                 onClose={(done) => {
                   setDeleting(null);
                   if (done) {
                     list.reload();
                   }
                 }} />
      ) : null}
    </div>
  );
}
