// Administration > Replications: the rules (policies), their runs
// (executions) with a live progress bar, the tasks of a run and each
// task's log.

import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtNum, fmtSize, fmtTime, t } from '../i18n.js';
import { Link, navigate, withQuery } from '../router.jsx';
import {
  Confirm, Dialog, Empty, ErrorBox, Field, Loading, Pager, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';

const POLL_MS = 2000;

// push-based: from here to dest_registry; pull-based: from src_registry
function isPush(p) {
  return !p.src_registry || !p.src_registry.id;
}

function filterOf(p, type) {
  return (p.filters || []).find((f) => f.type === type);
}

function regName(r) {
  return r && r.id ? r.name : t('repl.local');
}

function RuleDialog({ rule, onClose }) {
  const regs = useLoad(() => api('GET', '/registries', { query: { page_size: 100, sort: 'name' } })
    .then((r) => r.data || []), []);
  const push = rule ? isPush(rule) : true;
  const remote = rule ? (push ? rule.dest_registry : rule.src_registry) : null;
  const nameF = rule && filterOf(rule, 'name');
  const tagF = rule && filterOf(rule, 'tag');
  const resF = rule && filterOf(rule, 'resource');
  const [f, setF] = useState({
    name: rule ? rule.name : '',
    description: rule ? rule.description || '' : '',
    mode: push ? 'push' : 'pull',
    registry: remote ? String(remote.id) : '',
    nameFilter: nameF ? nameF.value : '',
    tagFilter: tagF ? tagF.value : '',
    tagDecoration: tagF && tagF.decoration === 'excludes' ? 'excludes' : 'matches',
    resource: resF ? resF.value : '',
    dest_namespace: rule ? rule.dest_namespace || '' : '',
    replace: rule ? String(rule.dest_namespace_replace_count ?? -1) : '-1',
    trigger: rule && rule.trigger ? rule.trigger.type : 'manual',
    cron: rule && rule.trigger && rule.trigger.trigger_settings ? rule.trigger.trigger_settings.cron || '' : '',
    override: rule ? !!rule.override : true,
    deletion: rule ? !!rule.replicate_deletion : false,
    speed: rule && rule.speed > 0 ? String(rule.speed) : '',
    copy_by_chunk: rule ? !!rule.copy_by_chunk : false,
    enabled: rule ? !!rule.enabled : true,
  });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const flag = (k) => (e) => setF({ ...f, [k]: e.currentTarget.checked });
  const badSpeed = f.speed.trim() !== '' && !/^\d+$/.test(f.speed.trim());
  const ok = f.name.trim() && f.registry && !badSpeed
    && (f.trigger !== 'scheduled' || f.cron.trim());

  const submit = async (e) => {
    e.preventDefault();
    if (!ok) {
      return;
    }
    const filters = [];
    if (f.nameFilter.trim()) {
      filters.push({ type: 'name', value: f.nameFilter.trim() });
    }
    if (f.tagFilter.trim()) {
      filters.push({ type: 'tag', value: f.tagFilter.trim(), decoration: f.tagDecoration });
    }
    if (f.resource) {
      filters.push({ type: 'resource', value: f.resource });
    }
    const reg = { id: Number(f.registry) };
    const trigger = f.trigger === 'event_based' && f.mode !== 'push' ? 'manual' : f.trigger;
    const body = {
      name: f.name.trim(),
      description: f.description,
      src_registry: f.mode === 'pull' ? reg : { id: 0 },
      dest_registry: f.mode === 'push' ? reg : { id: 0 },
      dest_namespace: f.dest_namespace.trim(),
      dest_namespace_replace_count: Number(f.replace),
      filters,
      trigger: { type: trigger, trigger_settings: { cron: trigger === 'scheduled' ? f.cron.trim() : '' } },
      override: f.override,
      replicate_deletion: f.deletion,
      speed: f.speed.trim() ? Number(f.speed.trim()) : 0,
      copy_by_chunk: f.copy_by_chunk,
      enabled: f.enabled,
    };
    setBusy(true);
    setError(null);
    try {
      if (rule) {
        await api('PUT', `/replication/policies/${rule.id}`, { body });
      } else {
        await api('POST', '/replication/policies', { body });
      }
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={rule ? t('repl.editRule') : t('repl.newRule')} onClose={() => onClose(false)} wide footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form="rule-form" class="primary" disabled={!ok || busy}>
          {rule ? t('common.save') : t('common.create')}
        </button>
      </>
    }>
      <form id="rule-form" onSubmit={submit}>
        <Field label={t('repl.name')}>
          <input name="name" value={f.name} autocomplete="off" maxLength={255} onInput={set('name')} />
        </Field>
        <Field label={t('repl.description')}>
          <input name="description" value={f.description} autocomplete="off" onInput={set('description')} />
        </Field>
        <Field label={t('repl.mode')}>
          <select name="mode" value={f.mode} onChange={set('mode')}>
            <option value="push">{t('repl.mode.push')}</option>
            <option value="pull">{t('repl.mode.pull')}</option>
          </select>
        </Field>
        <Field label={f.mode === 'push' ? t('repl.destRegistry') : t('repl.srcRegistry')}>
          <select name="registry" value={f.registry} onChange={set('registry')}>
            <option value="">{t('repl.pickRegistry')}</option>
            {(regs.data || []).map((r) => <option value={String(r.id)}>{`${r.name} (${r.url})`}</option>)}
          </select>
        </Field>
        <Field label={t('repl.filterName')} hint={t('repl.filterNameHint')}>
          <input name="name_filter" value={f.nameFilter} autocomplete="off" onInput={set('nameFilter')} />
        </Field>
        <div class="field-row">
          <Field label={t('repl.filterTag')} hint={t('repl.filterTagHint')}>
            <input name="tag_filter" value={f.tagFilter} autocomplete="off" onInput={set('tagFilter')} />
          </Field>
          <Field label={t('repl.decoration')}>
            <select name="tag_decoration" value={f.tagDecoration} onChange={set('tagDecoration')}>
              <option value="matches">{t('repl.matches')}</option>
              <option value="excludes">{t('repl.excludes')}</option>
            </select>
          </Field>
        </div>
        <Field label={t('repl.resource')}>
          <select name="resource" value={f.resource} onChange={set('resource')}>
            <option value="">{t('repl.resource.all')}</option>
            <option value="image">{t('repl.resource.image')}</option>
            <option value="artifact">{t('repl.resource.artifact')}</option>
          </select>
        </Field>
        <div class="field-row">
          <Field label={t('repl.destNamespace')} hint={t('repl.destNamespaceHint')}>
            <input name="dest_namespace" value={f.dest_namespace} autocomplete="off" onInput={set('dest_namespace')} />
          </Field>
          <Field label={t('repl.flatten')}>
            <select name="replace_count" value={f.replace} onChange={set('replace')}>
              <option value="-1">{t('repl.flatten.all')}</option>
              <option value="0">{t('repl.flatten.none')}</option>
              <option value="1">{t('repl.flatten.n', { n: 1 })}</option>
              <option value="2">{t('repl.flatten.n', { n: 2 })}</option>
              <option value="3">{t('repl.flatten.n', { n: 3 })}</option>
            </select>
          </Field>
        </div>
        <Field label={t('repl.trigger')}>
          <select name="trigger" value={f.trigger} onChange={set('trigger')}>
            <option value="manual">{t('repl.trigger.manual')}</option>
            <option value="scheduled">{t('repl.trigger.scheduled')}</option>
            {f.mode === 'push' ? <option value="event_based">{t('repl.trigger.event_based')}</option> : null}
          </select>
        </Field>
        {f.trigger === 'scheduled' ? (
          <Field label={t('repl.cron')} hint={t('repl.cronHint')}>
            <input name="cron" value={f.cron} autocomplete="off" placeholder="0 0 3 * * *" onInput={set('cron')} />
          </Field>
        ) : null}
        {f.trigger === 'event_based' ? (
          <label class="check">
            <input type="checkbox" name="deletion" checked={f.deletion} onChange={flag('deletion')} />
            {' '}{t('repl.deletion')}
          </label>
        ) : null}
        <label class="check">
          <input type="checkbox" name="override" checked={f.override} onChange={flag('override')} />
          {' '}{t('repl.override')}
        </label>
        <label class="check">
          <input type="checkbox" name="copy_by_chunk" checked={f.copy_by_chunk} onChange={flag('copy_by_chunk')} />
          {' '}{t('repl.copyByChunk')}
        </label>
        <label class="check">
          <input type="checkbox" name="enabled" checked={f.enabled} onChange={flag('enabled')} />
          {' '}{t('repl.enabled')}
        </label>
        <Field label={t('repl.speed')} hint={t('repl.speedHint')} error={badSpeed ? t('repl.speedBad') : null}>
          <input name="speed" value={f.speed} autocomplete="off" inputMode="numeric" onInput={set('speed')} />
        </Field>
        <ErrorBox error={error} context="repl.save" />
      </form>
    </Dialog>
  );
}

export function execStatus(s) {
  return ['InProgress', 'Succeed', 'Failed', 'Stopped', 'Pending'].includes(s)
    ? t(`repl.status.${s}`) : s;
}

function triggerName(tr) {
  return ['manual', 'scheduled', 'event_based'].includes(tr) ? t(`repl.trigger.${tr}`) : tr;
}

// succeed + failed of total, and the bytes the running tasks have done
function Progress({ e, bytes }) {
  const total = e.total || 0;
  const done = (e.succeed || 0) + (e.failed || 0) + (e.stopped || 0);
  let frac = total ? done / total : e.status === 'InProgress' ? 0 : 1;
  if (bytes && bytes.total > 0 && total) {
    frac += (bytes.done / bytes.total) * ((e.in_progress || 0) / total);
  }
  const pct = Math.min(100, Math.round(frac * 100));
  return (
    <div class="progress-cell">
      <progress max={100} value={pct} aria-label={t('repl.progress')} />
      <span class="muted">
        {t('repl.progressText', { done: fmtNum(done), total: fmtNum(total), failed: fmtNum(e.failed || 0) })}
        {bytes && bytes.total > 0 ? ` · ${t('repl.bytes', { done: fmtSize(bytes.done), total: fmtSize(bytes.total) })}` : ''}
      </span>
    </div>
  );
}

// Poll while something runs
function usePoll(load, running) {
  useEffect(() => {
    if (!running) {
      return undefined;
    }
    const id = setInterval(load.reload, POLL_MS);
    return () => clearInterval(id);
  }, [running, load.reload]);
}

function Executions({ policyId }) {
  const list = useLoad(() => api('GET', '/replication/executions', {
    query: { policy_id: policyId || '', page_size: 15 },
  }), [policyId]);
  const rows = list.data ? list.data.data || [] : [];
  const running = rows.some((e) => e.status === 'InProgress');
  usePoll(list, running);
  const [error, setError] = useState(null);

  const stop = async (e) => {
    setError(null);
    try {
      await api('PUT', `/replication/executions/${e.id}`);
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section data-test="executions">
      <h2>{t('repl.executions')}</h2>
      <ErrorBox error={list.error || error} context="repl.exec" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && rows.length === 0 ? <Empty title={t('repl.noExecutions')} /> : null}
      {rows.length ? (
        <table class="grid">
          <thead>
            <tr>
              <th>{t('repl.execId')}</th>
              <th>{t('repl.status')}</th>
              <th>{t('repl.trigger')}</th>
              <th>{t('repl.start')}</th>
              <th>{t('repl.end')}</th>
              <th>{t('repl.progress')}</th>
              <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id} data-execution={e.id} data-status={e.status}>
                <td><Link href={`/admin/replications/executions/${e.id}`}>{`#${e.id}`}</Link></td>
                <td>
                  {execStatus(e.status)}
                  {e.status_text ? <div class="muted small-text">{e.status_text}</div> : null}
                </td>
                <td>{triggerName(e.trigger)}</td>
                <td class="nowrap">{fmtTime(e.start_time)}</td>
                <td class="nowrap">{fmtTime(e.end_time)}</td>
                <td><Progress e={e} /></td>
                <td class="actions nowrap">
                  {e.status === 'InProgress' ? (
                    <button type="button" class="small danger" onClick={() => stop(e)}>{t('repl.stop')}</button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function ReplicationPage({ query }) {
  const { page, size } = pageArgs(query);
  const policyId = query.get('policy_id') || '';
  const list = useLoad(() => api('GET', '/replication/policies', {
    query: { page, page_size: size, sort: 'name' },
  }), [page, size]);
  const [editing, setEditing] = useState(null);
  const [removing, setRemoving] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [execKey, setExecKey] = useState(0);

  const close = (changed) => {
    setEditing(null);
    setRemoving(null);
    if (changed) {
      list.reload();
    }
  };

  const act = async (fn) => {
    setError(null);
    setNotice('');
    try {
      await fn();
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  const replicate = (p) => act(async () => {
    await api('POST', '/replication/executions', { body: { policy_id: p.id } });
    setNotice(t('repl.started', { name: p.name }));
    navigate(withQuery({ policy_id: p.id }), { replace: true });
    setExecKey(execKey + 1);
  });

  return (
    <div class="page">
      <div class="page-head">
        <h1>{t('repl.title')}</h1>
        <div class="toolbar">
          <button type="button" class="primary" onClick={() => setEditing({})}>+ {t('repl.newRule')}</button>
        </div>
      </div>
      <ErrorBox error={list.error || error} context="repl" />
      {notice ? <div class="alert alert-info" role="status">{notice}</div> : null}
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('repl.none')} /> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="rules">
            <thead>
              <tr>
                <th>{t('repl.name')}</th>
                <th>{t('repl.enabled')}</th>
                <th>{t('repl.mode')}</th>
                <th>{t('repl.source')}</th>
                <th>{t('repl.destination')}</th>
                <th>{t('repl.trigger')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((p) => (
                <tr key={p.id} data-rule={p.name} class={String(p.id) === policyId ? 'selected' : ''}>
                  <td>
                    <Link href={withQuery({ policy_id: p.id })}>{p.name}</Link>
                  </td>
                  <td>{p.enabled ? t('repl.on') : t('repl.off')}</td>
                  <td>{isPush(p) ? t('repl.mode.push') : t('repl.mode.pull')}</td>
                  <td>{regName(p.src_registry)}</td>
                  <td>
                    {regName(p.dest_registry)}
                    {p.dest_namespace ? <span class="muted">{` / ${p.dest_namespace}`}</span> : null}
                  </td>
                  <td>{triggerName(p.trigger && p.trigger.type)}</td>
                  <td class="actions nowrap">
                    <button type="button" class="small" disabled={!p.enabled} onClick={() => replicate(p)}
                            aria-label={t('repl.replicateNamed', { name: p.name })}>
                      {t('repl.replicate')}
                    </button>
                    <button type="button" class="small"
                            onClick={() => act(() => api('PUT', `/replication/policies/${p.id}`,
                              { body: { enabled: !p.enabled } }))}>
                      {p.enabled ? t('repl.disable') : t('repl.enable')}
                    </button>
                    <button type="button" class="small" onClick={async () => {
                      setError(null);
                      try {
                        const r = await api('GET', `/replication/policies/${p.id}`);
                        setEditing(r.data);
                      } catch (err) {
                        setError(err);
                      }
                    }} aria-label={t('repl.editNamed', { name: p.name })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="small danger" onClick={() => setRemoving(p)}
                            aria-label={t('repl.deleteNamed', { name: p.name })}>
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
      {policyId ? (
        <p><Link href={withQuery({ policy_id: null })}>{t('repl.allExecutions')}</Link></p>
      ) : null}
      <Executions policyId={policyId} key={`${policyId}-${execKey}`} />
      {editing ? <RuleDialog rule={editing.id ? editing : null} onClose={close} /> : null}
      {removing ? (
        <Confirm title={t('repl.deleteRule')} action={t('common.delete')}
                 message={t('repl.deleteConfirm', { name: removing.name })}
                 onConfirm={() => api('DELETE', `/replication/policies/${removing.id}`)}
                 onClose={close} />
      ) : null}
    </div>
  );
}

function TaskLog({ exec, task, onClose }) {
  const log = useLoad(() => api('GET', `/replication/executions/${exec}/tasks/${task.id}/log`, {
    headers: { Accept: 'text/plain' },
  }), [exec, task.id]);
  return (
    <Dialog title={t('repl.logOf', { name: task.src_resource })} onClose={onClose} wide footer={
      <button type="button" onClick={onClose}>{t('repl.close')}</button>
    }>
      <ErrorBox error={log.error} />
      {log.loading && !log.data ? <Loading /> : null}
      {log.data ? <pre class="code" data-test="task-log">{String(log.data.data || '')}</pre> : null}
    </Dialog>
  );
}

export function ExecutionPage({ id }) {
  const exec = useLoad(() => api('GET', `/replication/executions/${id}`), [id]);
  const tasks = useLoad(() => api('GET', `/replication/executions/${id}/tasks`, {
    query: { page_size: 100 },
  }), [id]);
  const e = exec.data ? exec.data.data : null;
  const running = !!e && e.status === 'InProgress';
  usePoll(exec, running);
  usePoll(tasks, running);
  // the run just ended: the tasks once more, as they ended with it
  const wasRunning = useRef(false);
  useEffect(() => {
    if (wasRunning.current && !running) {
      tasks.reload();
    }
    wasRunning.current = running;
  }, [running]);
  const [log, setLog] = useState(null);
  const [error, setError] = useState(null);
  const rows = tasks.data ? tasks.data.data || [] : [];
  const bytes = rows.filter((x) => x.status === 'InProgress').reduce(
    (a, x) => ({ done: a.done + (x.bytes_done || 0), total: a.total + (x.bytes_total || 0) }),
    { done: 0, total: 0 },
  );

  const stop = async () => {
    setError(null);
    try {
      await api('PUT', `/replication/executions/${id}`);
      exec.reload();
      tasks.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <div class="page">
      <p><Link href={e ? `/admin/replications?policy_id=${e.policy_id}` : '/admin/replications'}>
        {t('repl.back')}
      </Link></p>
      <div class="page-head">
        <h1>{t('repl.execution', { id })}</h1>
        {running ? (
          <div class="toolbar">
            <button type="button" class="danger" onClick={stop}>{t('repl.stop')}</button>
          </div>
        ) : null}
      </div>
      <ErrorBox error={exec.error || error} context="repl.exec" />
      {exec.loading && !exec.data ? <Loading /> : null}
      {e ? (
        <dl class="facts" data-test="execution" data-status={e.status}>
          <dt>{t('repl.status')}</dt>
          <dd data-test="execution-status">{execStatus(e.status)}</dd>
          {e.status_text ? <><dt>{t('repl.statusText')}</dt><dd>{e.status_text}</dd></> : null}
          <dt>{t('repl.trigger')}</dt>
          <dd>{triggerName(e.trigger)}</dd>
          <dt>{t('repl.start')}</dt>
          <dd>{fmtTime(e.start_time)}</dd>
          <dt>{t('repl.end')}</dt>
          <dd>{fmtTime(e.end_time)}</dd>
          <dt>{t('repl.progress')}</dt>
          <dd><Progress e={e} bytes={bytes} /></dd>
        </dl>
      ) : null}
      <h2>{t('repl.tasks')}</h2>
      <ErrorBox error={tasks.error} context="repl.exec" />
      {tasks.data && rows.length === 0 ? <Empty title={t('repl.noTasks')} /> : null}
      {rows.length ? (
        <table class="grid" data-test="tasks">
          <thead>
            <tr>
              <th>{t('repl.resourceType')}</th>
              <th>{t('repl.source')}</th>
              <th>{t('repl.destination')}</th>
              <th>{t('repl.status')}</th>
              <th>{t('repl.size')}</th>
              <th>{t('repl.start')}</th>
              <th>{t('repl.end')}</th>
              <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {rows.map((x) => (
              <tr key={x.id} data-task={x.src_resource} data-status={x.status}>
                <td>{x.operation === 'deletion' ? t('repl.op.deletion') : x.resource_type}</td>
                <td>{x.src_resource}</td>
                <td>{x.dst_resource}</td>
                <td>{execStatus(x.status)}</td>
                <td class="nowrap">
                  {x.bytes_total ? t('repl.bytes', { done: fmtSize(x.bytes_done || 0), total: fmtSize(x.bytes_total) }) : '—'}
                </td>
                <td class="nowrap">{fmtTime(x.start_time)}</td>
                <td class="nowrap">{fmtTime(x.end_time)}</td>
                <td class="actions">
                  <button type="button" class="small" onClick={() => setLog(x)}
                          aria-label={t('repl.logOf', { name: x.src_resource })}>
                    {t('repl.log')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {log ? <TaskLog exec={id} task={log} onClose={() => setLog(null)} /> : null}
    </div>
  );
}
