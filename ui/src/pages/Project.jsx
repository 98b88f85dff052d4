import { useState } from 'preact/hooks';
import { api, repoShort } from '../api.js';
import { fmtNum, fmtTime, t } from '../i18n.js';
import { Link, navigate, withQuery } from '../router.jsx';
import {
  Confirm, CopyButton, Dialog, Empty, ErrorBox, Field, Loading, Pager, ROLES, SearchBox,
  roleName, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';
import { ProjectRobots } from './Robots.jsx';
import { ProjectLabels } from './Labels.jsx';
import { ProjectWebhooks } from './Webhooks.jsx';
import { ProjectPolicies } from './Policies.jsx';
import { GroupFinder } from './UserGroups.jsx';
import { plainHttp, pushCommands } from '../registry.js';
import { EditQuota, QuotaBar } from '../quota.jsx';

const TABS = ['repositories', 'members', 'labels', 'robots', 'policy', 'webhooks', 'logs', 'summary'];

export function PushHelp({ info, project }) {
  const [tool, setTool] = useState('docker');
  const cmds = pushCommands(tool, info, project);
  return (
    <div class="push-help" data-test="push-help">
      <div class="tool-switch" role="group" aria-label={t('pull.tool')}>
        {['docker', 'podman'].map((x) => (
          <button type="button" aria-pressed={tool === x} class={tool === x ? 'current' : ''}
                  onClick={() => setTool(x)}>{x}</button>
        ))}
      </div>
      <ol>
        <li>{t('push.login')}<pre>{cmds[0]}</pre><CopyButton text={cmds[0]} /></li>
        <li>{t('push.tag')}<pre>{cmds[1]}</pre><CopyButton text={cmds[1]} /></li>
        <li>{t('push.push')}<pre>{cmds[2]}</pre><CopyButton text={cmds[2]} /></li>
      </ol>
      {tool === 'docker' && plainHttp(info) ? <p class="muted">{t('push.insecure')}</p> : null}
    </div>
  );
}

function Repositories({ project, ctx, query }) {
  const { page, size } = pageArgs(query);
  const name = query.get('name') || '';
  const list = useLoad(() => api('GET', `/projects/${encodeURIComponent(project.name)}/repositories`, {
    query: { page, page_size: size, q: name ? `name=~${name}` : '', sort: '-update_time' },
  }), [project.name, page, size, name]);

  return (
    <section>
      <div class="toolbar">
        <SearchBox value={name} placeholder={t('repos.filter')}
                   onSearch={(s) => navigate(withQuery({ name: s, page: null }), { replace: true })} />
      </div>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? (
        name ? <Empty title={t('repos.noMatch', { name })} /> : (
          <Empty title={t('repos.empty')}>
            <p>{t('repos.emptyHint', { project: project.name })}</p>
            <PushHelp info={ctx.info} project={project.name} />
          </Empty>
        )
      ) : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="repositories">
            <thead>
              <tr>
                <th>{t('repos.name')}</th>
                <th class="num">{t('repos.artifacts')}</th>
                <th class="num">{t('repos.pulls')}</th>
                <th>{t('repos.lastPush')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link href={`/projects/${encodeURIComponent(project.name)}/repositories/${encodeURIComponent(repoShort(project.name, r.name))}`}>
                      {r.name}
                    </Link>
                  </td>
                  <td class="num">{fmtNum(r.artifact_count)}</td>
                  <td class="num">{fmtNum(r.pull_count)}</td>
                  <td>{fmtTime(r.update_time)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} size={size} total={list.data.total}
                 onPage={(n) => navigate(withQuery({ page: n }))}
                 onSize={(n) => navigate(withQuery({ page_size: n, page: null }))} />
        </>
      ) : null}
    </section>
  );
}

// A user by name, or (group, with LDAP) a directory group by name or DN
function AddMember({ project, group, finder, onClose }) {
  const [who, setWho] = useState('');
  const [role, setRole] = useState(2);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const w = who.trim();
    // a DN has an attribute=value pair; a name does not
    const member = group
      ? { member_group: w.includes('=') ? { ldap_group_dn: w, group_type: 1 } : { group_name: w, group_type: 1 } }
      : { member_user: { username: w } };
    try {
      await api('POST', `/projects/${encodeURIComponent(project)}/members`, {
        body: { role_id: role, ...member },
      });
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={group ? t('members.addGroup') : t('members.add')} onClose={() => onClose(false)} footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form="member-form" class="primary" disabled={!who.trim() || busy}>
          {t('members.addButton')}
        </button>
      </>
    }>
      <form id="member-form" onSubmit={submit}>
        {group && finder ? <GroupFinder onPick={(g) => setWho(g.ldap_group_dn)} /> : null}
        {group ? (
          <Field label={t('members.group')} hint={t('members.groupHint')}>
            <input name="group" value={who} autocomplete="off"
                   onInput={(e) => setWho(e.currentTarget.value)} />
          </Field>
        ) : (
          <Field label={t('members.username')} hint={t('members.usernameHint')}>
            <input name="username" value={who} autocomplete="off"
                   onInput={(e) => setWho(e.currentTarget.value)} />
          </Field>
        )}
        <Field label={t('members.role')} hint={t(`role.${role}.hint`)}>
          <select name="role" value={role} onChange={(e) => setRole(Number(e.currentTarget.value))}>
            {ROLES.map((r) => <option value={r}>{roleName(r)}</option>)}
          </select>
        </Field>
        {group ? <ErrorBox error={error} context="members.addGroup" />
          : <ErrorBox error={error} context="members.add" />}
      </form>
    </Dialog>
  );
}

function Members({ project, ctx, query }) {
  const { page, size } = pageArgs(query);
  const base = `/projects/${encodeURIComponent(project.name)}/members`;
  const list = useLoad(() => api('GET', base, { query: { page, page_size: size } }),
    [project.name, page, size]);
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState(null);
  const [error, setError] = useState(null);
  const manage = ctx.user.sysadmin_flag || project.current_user_role_id === 1;
  const ldap = ctx.info && ctx.info.auth_mode === 'ldap_auth';

  const changeRole = async (m, role) => {
    setError(null);
    try {
      await api('PUT', `${base}/${m.id}`, { body: { role_id: role } });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section>
      <div class="toolbar">
        {manage ? (
          <>
            <button type="button" class="primary" onClick={() => setAdding('user')}>+ {t('members.add')}</button>
            {ldap ? (
              <button type="button" onClick={() => setAdding('group')}>+ {t('members.addGroup')}</button>
            ) : null}
          </>
        ) : <span class="muted">{t('members.readOnly')}</span>}
      </div>
      <ErrorBox error={list.error || error} context="members" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('members.empty')} /> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="members">
            <thead>
              <tr>
                <th>{t('members.name')}</th>
                <th>{t('members.type')}</th>
                <th>{t('members.role')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((m) => (
                <tr key={m.id}>
                  <td>{m.entity_name}</td>
                  <td>{m.entity_type === 'g' ? t('members.group') : t('members.user')}</td>
                  <td>
                    {manage && m.entity_name !== ctx.user.username ? (
                      <select value={m.role_id} aria-label={t('members.roleOf', { name: m.entity_name })}
                              onChange={(e) => changeRole(m, Number(e.currentTarget.value))}>
                        {ROLES.map((r) => <option value={r}>{roleName(r)}</option>)}
                      </select>
                    ) : roleName(m.role_id)}
                  </td>
                  <td class="actions">
                    {manage && m.entity_name !== ctx.user.username ? (
                      <button type="button" class="danger small" onClick={() => setRemoving(m)}
                              aria-label={t('members.removeNamed', { name: m.entity_name })}>
                        {t('members.remove')}
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
      {adding ? <AddMember project={project.name} group={adding === 'group'} finder={!!ctx.user.sysadmin_flag} onClose={(done) => { setAdding(false); if (done) list.reload(); }} /> : null}
      {removing ? (
        <Confirm title={t('members.remove')} action={t('members.remove')}
                 message={t('members.removeConfirm', { name: removing.entity_name, project: project.name })}
                 onConfirm={() => api('DELETE', `${base}/${removing.id}`)}
                 onClose={(done) => { setRemoving(null); if (done) list.reload(); }} />
      ) : null}
    </section>
  );
}

export function opName(op) {
  const k = `op.${op}`;
  const s = t(k);
  return s === k ? op : s;
}

export function rtName(rt) {
  const k = `rt.${rt}`;
  const s = t(k);
  return s === k ? rt : s;
}

export function LogTable({ data }) {
  return (
    <table class="grid" data-test="logs">
      <thead>
        <tr>
          <th>{t('logs.time')}</th>
          <th>{t('logs.user')}</th>
          <th>{t('logs.operation')}</th>
          <th>{t('logs.resourceType')}</th>
          <th>{t('logs.resource')}</th>
          <th>{t('logs.result')}</th>
        </tr>
      </thead>
      <tbody>
        {data.map((l) => (
          <tr key={l.id}>
            <td class="nowrap">{fmtTime(l.op_time)}</td>
            <td>{l.username}</td>
            <td>{opName(l.operation)}</td>
            <td>{rtName(l.resource_type)}</td>
            <td class="mono break">{l.resource}</td>
            <td>{l.operation_result === false
              ? <span class="badge badge-bad" title={l.operation_description}>{t('logs.failed')}</span>
              : t('logs.ok')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Logs({ project, query }) {
  const { page, size } = pageArgs(query);
  const list = useLoad(() => api('GET', `/projects/${encodeURIComponent(project.name)}/logs`, {
    query: { page, page_size: size, sort: '-op_time' },
  }), [project.name, page, size]);

  return (
    <section>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('logs.empty')}>{t('logs.emptyHint')}</Empty> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <LogTable data={list.data.data} />
          <Pager page={page} size={size} total={list.data.total}
                 onPage={(n) => navigate(withQuery({ page: n }))}
                 onSize={(n) => navigate(withQuery({ page_size: n, page: null }))} />
        </>
      ) : null}
    </section>
  );
}

function Summary({ project, ctx, onChange }) {
  const s = useLoad(() => api('GET', `/projects/${encodeURIComponent(project.name)}/summary`), [project.name]);
  const d = s.data && s.data.data;
  const pub = project.metadata && project.metadata.public === 'true';
  const admin = ctx.user.sysadmin_flag || project.current_user_role_id === 1;
  const [error, setError] = useState(null);
  const [editing, setEditing] = useState(false);

  const toggle = async () => {
    setError(null);
    try {
      await api('PUT', `/projects/${encodeURIComponent(project.name)}`, {
        headers: { 'X-Is-Resource-Name': 'true' },
        body: { metadata: { public: pub ? 'false' : 'true' } },
      });
      onChange();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section>
      <ErrorBox error={s.error || error} />
      {s.loading && !d ? <Loading /> : null}
      {d ? (
        <dl class="facts" data-test="summary">
          <dt>{t('projects.access')}</dt>
          <dd>
            {pub ? t('projects.publicLabel') : t('projects.privateLabel')}{' '}
            {admin ? (
              <button type="button" class="small" onClick={toggle}>
                {pub ? t('summary.makePrivate') : t('summary.makePublic')}
              </button>
            ) : null}
            <div class="muted small-text">{pub ? t('projects.publicHint') : t('projects.privateHint')}</div>
          </dd>
          <dt>{t('summary.owner')}</dt>
          <dd>{project.owner_name || '—'}</dd>
          <dt>{t('common.created')}</dt>
          <dd>{fmtTime(project.creation_time)}</dd>
          <dt>{t('summary.repositories')}</dt>
          <dd>{fmtNum(d.repo_count)}</dd>
          <dt>{t('summary.storage')}</dt>
          <dd>
            <QuotaBar used={d.quota && d.quota.used ? d.quota.used.storage : null}
                      hard={d.quota && d.quota.hard ? d.quota.hard.storage : -1} />{' '}
            {ctx.user.sysadmin_flag ? (
              <button type="button" class="small" onClick={() => setEditing(true)}>
                {t('quota.edit')}
              </button>
            ) : null}
          </dd>
          <dt>{t('summary.members')}</dt>
          <dd>
            <ul class="plain">
              {[['project_admin_count', 1], ['maintainer_count', 4], ['developer_count', 2],
                ['guest_count', 3], ['limited_guest_count', 5]].map(([k, r]) => (
                <li>{roleName(r)}: {d[k] === undefined ? '—' : fmtNum(d[k])}</li>
              ))}
            </ul>
          </dd>
        </dl>
      ) : null}
      {editing && d ? (
        <EditQuota project={project.name} hard={d.quota && d.quota.hard ? d.quota.hard.storage : -1}
                   onClose={(done) => {
                     setEditing(false);
                     if (done) {
                       s.reload();
                     }
                   }} />
      ) : null}
    </section>
  );
}

export function ProjectPage({ project: name, tab, ctx, query }) {
  const p = useLoad(() => api('GET', `/projects/${encodeURIComponent(name)}`,
    { headers: { 'X-Is-Resource-Name': 'true' } }), [name]);
  const current = TABS.includes(tab) ? tab : 'repositories';
  const project = p.data && p.data.data;

  if (p.error) {
    return (
      <div class="page">
        <h1>{name}</h1>
        <ErrorBox error={p.error} context="project" />
        <p><Link href="/projects">{t('common.backToProjects')}</Link></p>
      </div>
    );
  }
  if (!project) {
    return <div class="page"><Loading /></div>;
  }

  const pub = project.metadata && project.metadata.public === 'true';
  // the project's log is for its administrators (authd answers 403 to others),
  // its robots for its members but limited guests, its webhooks for its
  // administrators, its policies for its members but limited guests
  const role = project.current_user_role_id;
  const tabs = TABS.filter((x) => ctx.user.sysadmin_flag
    || (x === 'logs' || x === 'webhooks' ? role === 1
      : x === 'robots' || x === 'policy' ? role >= 1 && role <= 4 : true));
  const body = {
    repositories: Repositories, members: Members, robots: ProjectRobots, logs: Logs,
    summary: Summary, labels: ProjectLabels, webhooks: ProjectWebhooks, policy: ProjectPolicies,
  }[current];
  const View = body;

  return (
    <div class="page">
      <nav class="crumbs" aria-label={t('nav.crumbs')}>
        <Link href="/projects">{t('nav.projects')}</Link> <span aria-hidden="true">/</span>
      </nav>
      <div class="page-head">
        <h1>{project.name}</h1>
        <span class={`badge ${pub ? 'badge-public' : ''}`}>{pub ? t('projects.publicLabel') : t('projects.privateLabel')}</span>
        {project.registry_id ? (
          <span class="badge" data-test="proxy-cache">{t('projects.proxyOf', { id: project.registry_id })}</span>
        ) : null}
        <span class="muted">{t('projects.yourRole', { role: roleName(project.current_user_role_id) })}</span>
      </div>
      <div class="tabs" role="tablist">
        {tabs.map((x) => (
          <Link href={`/projects/${encodeURIComponent(name)}/${x}`} role="tab"
                aria-selected={x === current} class={x === current ? 'tab current' : 'tab'}>
            {t(`project.tab.${x}`)}
          </Link>
        ))}
      </div>
      <View project={project} ctx={ctx} query={query} onChange={p.reload} />
    </div>
  );
}
