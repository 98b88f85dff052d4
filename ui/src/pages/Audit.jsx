import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { navigate, withQuery } from '../router.jsx';
import { Empty, ErrorBox, Field, Loading, Pager, useLoad } from '../components.jsx';
import { pageArgs } from './Projects.jsx';
import { LogTable, opName, rtName } from './Project.jsx';

// Harbor's operations: a push is "create" of an artifact
const OPERATIONS = ['create', 'delete', 'update', 'pull', 'login'];
const RESOURCE_TYPES = ['project', 'repository', 'artifact', 'tag', 'project_member', 'user'];

// q of Harbor's lists: k=v exact, k=~v fuzzy, k=[a~b] range; values may
// not hold a comma (the separator), so one is dropped
function qOf(f) {
  const clean = (s) => s.replace(/[,{}()[\]~]/g, ' ').trim();
  const q = [];
  if (f.username) q.push(`username=~${clean(f.username)}`);
  if (f.resource) q.push(`resource=~${clean(f.resource)}`);
  if (f.operation) q.push(`operation=${f.operation}`);
  if (f.resource_type) q.push(`resource_type=${f.resource_type}`);
  if (f.from || f.to) {
    const from = f.from ? `${f.from}T00:00:00Z` : '';
    const to = f.to ? `${f.to}T23:59:59Z` : '';
    q.push(`op_time=[${from}~${to}]`);
  }
  return q.join(',');
}

const KEYS = ['username', 'resource', 'operation', 'resource_type', 'from', 'to'];

export function AuditPage({ query }) {
  const { page, size } = pageArgs(query);
  const applied = Object.fromEntries(KEYS.map((k) => [k, query.get(k) || '']));
  const [f, setF] = useState(applied);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const q = qOf(applied);

  const list = useLoad(() => api('GET', '/audit-logs', {
    query: { page, page_size: size, q, sort: '-op_time' },
  }), [page, size, q]);

  const apply = (e) => {
    e.preventDefault();
    navigate(withQuery({ ...f, page: null }));
  };
  const clear = () => {
    const empty = Object.fromEntries(KEYS.map((k) => [k, '']));
    setF(empty);
    navigate(withQuery({ ...empty, page: null }));
  };

  return (
    <div class="page">
      <h1>{t('audit.title')}</h1>
      <form class="filters" onSubmit={apply} aria-label={t('audit.filters')}>
        <Field label={t('logs.user')}>
          <input name="username" value={f.username} onInput={set('username')} />
        </Field>
        <Field label={t('logs.operation')}>
          <select name="operation" value={f.operation} onChange={set('operation')}>
            <option value="">{t('audit.any')}</option>
            {OPERATIONS.map((o) => <option value={o}>{opName(o)}</option>)}
          </select>
        </Field>
        <Field label={t('logs.resourceType')}>
          <select name="resource_type" value={f.resource_type} onChange={set('resource_type')}>
            <option value="">{t('audit.any')}</option>
            {RESOURCE_TYPES.map((o) => <option value={o}>{rtName(o)}</option>)}
          </select>
        </Field>
        <Field label={t('logs.resource')}>
          <input name="resource" value={f.resource} onInput={set('resource')} />
        </Field>
        <Field label={t('audit.from')}>
          <input name="from" type="date" value={f.from} onInput={set('from')} />
        </Field>
        <Field label={t('audit.to')}>
          <input name="to" type="date" value={f.to} onInput={set('to')} />
        </Field>
        <div class="row">
          <button type="submit" class="primary">{t('audit.apply')}</button>
          <button type="button" onClick={clear}>{t('audit.clear')}</button>
        </div>
      </form>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('audit.none')}>{q ? t('audit.noneFiltered') : null}</Empty> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <LogTable data={list.data.data} />
          <Pager page={page} size={size} total={list.data.total}
                 onPage={(n) => navigate(withQuery({ page: n }))}
                 onSize={(n) => navigate(withQuery({ page_size: n, page: null }))} />
        </>
      ) : null}
    </div>
  );
}
