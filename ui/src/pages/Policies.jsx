// Policy: a project's tag immutability rules and its tag retention
// policy (rules, schedule, runs with their per-repository tasks and
// logs).  Members but limited guests read; the project's administrators
// and maintainers change and run (authd answers others 403).

import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtNum, fmtTime, t } from '../i18n.js';
import {
  Confirm, Dialog, Empty, ErrorBox, Field, FormDialog, Loading, Pager, useLoad,
} from '../components.jsx';

const STATUS_CLASS = { Succeed: 'badge-public', Success: 'badge-public', Failed: 'badge-bad' };

function decoName(d) {
  return {
    matches: t('policy.deco.matches'),
    excludes: t('policy.deco.excludes'),
    repoMatches: t('policy.deco.matches'),
    repoExcludes: t('policy.deco.excludes'),
  }[d] || d;
}

function statusName(s) {
  return {
    Pending: t('policy.status.Pending'),
    Running: t('policy.status.Running'),
    Succeed: t('policy.status.Succeed'),
    Success: t('policy.status.Succeed'),
    Failed: t('policy.status.Failed'),
    Stopped: t('policy.status.Stopped'),
  }[s] || s;
}

const TEMPLATES = ['latestPushedK', 'latestPulledN', 'nDaysSinceLastPush', 'nDaysSinceLastPull', 'always'];

function templateText(tpl, n) {
  const v = { n: fmtNum(n) };
  return {
    latestPushedK: t('retention.tpl.latestPushedK', v),
    latestPulledN: t('retention.tpl.latestPulledN', v),
    nDaysSinceLastPush: t('retention.tpl.nDaysSinceLastPush', v),
    nDaysSinceLastPull: t('retention.tpl.nDaysSinceLastPull', v),
    always: t('retention.tpl.always'),
  }[tpl] || tpl;
}

function selText(sel) {
  return sel ? `${decoName(sel.decoration)} ${sel.pattern}` : '';
}

function repoSel(rule) {
  return ((rule.scope_selectors || {}).repository || [])[0];
}

function tagSel(rule) {
  return (rule.tag_selectors || [])[0];
}

function untagged(sel) {
  try {
    return !!(sel && sel.extras && JSON.parse(sel.extras).untagged);
  } catch {
    return false;
  }
}

// The repository and tag selectors both kinds of rule share: a
// decoration and a doublestar pattern each.
function Selectors({ f, set }) {
  return (
    <>
      <Field label={t('policy.repositories')} hint={t('policy.patternHint')}>
        <span class="inline">
          <select name="repo_decoration" value={f.repoDeco} onChange={set('repoDeco')}
                  aria-label={t('policy.repoDecoration')}>
            <option value="repoMatches">{t('policy.deco.matches')}</option>
            <option value="repoExcludes">{t('policy.deco.excludes')}</option>
          </select>
          <input name="repo_pattern" value={f.repo} autocomplete="off" onInput={set('repo')} />
        </span>
      </Field>
      <Field label={t('policy.tags')} hint={t('policy.patternHint')}>
        <span class="inline">
          <select name="tag_decoration" value={f.tagDeco} onChange={set('tagDeco')}
                  aria-label={t('policy.tagDecoration')}>
            <option value="matches">{t('policy.deco.matches')}</option>
            <option value="excludes">{t('policy.deco.excludes')}</option>
          </select>
          <input name="tag_pattern" value={f.tag} autocomplete="off" onInput={set('tag')} />
        </span>
      </Field>
    </>
  );
}

function selectorState(rule) {
  const r = rule && repoSel(rule);
  const g = rule && tagSel(rule);
  return {
    repoDeco: r ? r.decoration : 'repoMatches',
    repo: r ? r.pattern : '**',
    tagDeco: g ? g.decoration : 'matches',
    tag: g ? g.pattern : '**',
  };
}

function selectorBody(f, extras) {
  const tag = { kind: 'doublestar', decoration: f.tagDeco, pattern: f.tag.trim() };
  if (extras !== undefined) {
    tag.extras = extras;
  }
  return {
    tag_selectors: [tag],
    scope_selectors: {
      repository: [{ kind: 'doublestar', decoration: f.repoDeco, pattern: f.repo.trim() }],
    },
  };
}

// ------------------------------------------------------ immutability

function ImmutableForm({ base, rule, onClose }) {
  const [f, setF] = useState(selectorState(rule));
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const ready = f.repo.trim() && f.tag.trim();

  const save = () => {
    const body = { ...selectorBody(f), disabled: rule ? !!rule.disabled : false };
    return rule ? api('PUT', `${base}/${rule.id}`, { body: { ...rule, ...body } })
      : api('POST', base, { body });
  };

  return (
    <FormDialog id="immutable-form" title={rule ? t('immutable.edit') : t('immutable.new')}
                submitLabel={rule ? t('common.save') : t('common.create')}
                ready={!!ready} onSubmit={save} onClose={onClose} context="policy.save">
      <Selectors f={f} set={set} />
    </FormDialog>
  );
}

function ImmutableRules({ project, canEdit }) {
  const base = `/projects/${encodeURIComponent(project.name)}/immutabletagrules`;
  const list = useLoad(() => api('GET', base, { query: { page_size: 100 } }), [base]);
  const [editing, setEditing] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const [error, setError] = useState(null);
  const rules = (list.data && list.data.data) || [];

  const toggle = async (r) => {
    setError(null);
    try {
      await api('PUT', `${base}/${r.id}`, { body: { disabled: !r.disabled } });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section data-test="immutable">
      <div class="page-head">
        <h2>{t('immutable.title')}</h2>
        {canEdit ? (
          <button type="button" class="primary small" onClick={() => setEditing({})}>
            + {t('immutable.new')}
          </button>
        ) : null}
      </div>
      <p class="muted">{t('immutable.hint')}</p>
      <ErrorBox error={list.error} />
      <ErrorBox error={error} context="policy.save" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && !rules.length ? <Empty title={t('immutable.empty')} /> : null}
      {rules.length ? (
        <table class="grid" data-test="immutable-rules">
          <thead>
            <tr>
              <th>{t('policy.repositories')}</th>
              <th>{t('policy.tags')}</th>
              <th>{t('policy.state')}</th>
              {canEdit ? <th class="actions"><span class="offscreen">{t('common.actions')}</span></th> : null}
            </tr>
          </thead>
          <tbody>
            {rules.map((r) => (
              <tr key={r.id} data-rule={r.id} data-tag={(tagSel(r) || {}).pattern}>
                <td class="mono">{selText(repoSel(r))}</td>
                <td class="mono">{selText(tagSel(r))}</td>
                <td>{r.disabled ? <span class="badge badge-bad">{t('policy.disabled')}</span>
                  : t('policy.enabled')}</td>
                {canEdit ? (
                  <td class="actions nowrap">
                    <button type="button" class="small" onClick={() => toggle(r)}>
                      {r.disabled ? t('policy.enable') : t('policy.disable')}
                    </button>
                    <button type="button" class="small" onClick={() => setEditing(r)}>{t('common.edit')}</button>
                    <button type="button" class="small danger" onClick={() => setDeleting(r)}>
                      {t('common.delete')}
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {editing ? (
        <ImmutableForm base={base} rule={editing.id ? editing : null}
                       onClose={(done) => { setEditing(null); if (done) list.reload(); }} />
      ) : null}
      {deleting ? (
        <Confirm title={t('immutable.delete')} action={t('common.delete')}
                 message={t('immutable.deleteConfirm', { pattern: selText(tagSel(deleting)) })}
                 onConfirm={() => api('DELETE', `${base}/${deleting.id}`)}
                 onClose={(done) => { setDeleting(null); if (done) list.reload(); }} />
      ) : null}
    </section>
  );
}

// --------------------------------------------------------- retention

function RetentionRuleForm({ rule, onSave, onClose }) {
  const tpl = rule ? rule.template : 'latestPushedK';
  const [f, setF] = useState({
    ...selectorState(rule),
    template: tpl,
    n: rule && rule.params && rule.params[tpl] !== undefined ? String(rule.params[tpl]) : '1',
    untagged: rule ? untagged(tagSel(rule)) : false,
  });
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const counted = f.template !== 'always';
  const badN = counted && !/^\d+$/.test(f.n.trim()) ? t('retention.countRule') : '';
  const ready = f.repo.trim() && f.tag.trim() && !badN;

  const save = () => onSave({
    ...(rule || {}),
    disabled: rule ? !!rule.disabled : false,
    action: 'retain',
    template: f.template,
    params: counted ? { [f.template]: Number(f.n.trim()) } : {},
    ...selectorBody(f, JSON.stringify({ untagged: f.untagged })),
  });

  return (
    <FormDialog id="retention-rule-form" title={rule ? t('retention.editRule') : t('retention.newRule')}
                submitLabel={rule ? t('common.save') : t('common.create')}
                ready={!!ready} onSubmit={save} onClose={onClose} context="policy.save">
      <Field label={t('retention.template')}>
        <select name="template" value={f.template} onChange={set('template')}>
          {TEMPLATES.map((x) => <option value={x}>{templateText(x, 'N')}</option>)}
        </select>
      </Field>
      {counted ? (
        <Field label={t('retention.count')} error={badN}>
          <input name="count" value={f.n} inputMode="numeric" autocomplete="off" onInput={set('n')} />
        </Field>
      ) : null}
      <Selectors f={f} set={set} />
      <label class="check">
        <input type="checkbox" name="untagged" checked={f.untagged}
               onChange={(e) => setF({ ...f, untagged: e.currentTarget.checked })} />
        {' '}{t('retention.untagged')}
      </label>
    </FormDialog>
  );
}

function ScheduleForm({ cron, onSave, onClose }) {
  const [on, setOn] = useState(!!cron);
  const [c, setC] = useState(cron || '0 0 0 * * *');
  const fields = c.trim().split(/\s+/).length;
  const bad = on && (fields < 5 || fields > 6) ? t('retention.cronRule') : '';

  return (
    <FormDialog id="schedule-form" title={t('retention.schedule')} submitLabel={t('common.save')}
                ready={!bad} onSubmit={() => onSave(on ? c.trim() : '')} onClose={onClose}
                context="policy.save">
      <label class="check">
        <input type="radio" name="schedule" value="none" checked={!on} onChange={() => setOn(false)} />
        {' '}{t('retention.scheduleNone')}
      </label>
      <label class="check">
        <input type="radio" name="schedule" value="cron" checked={on} onChange={() => setOn(true)} />
        {' '}{t('retention.scheduleCron')}
      </label>
      {on ? (
        <Field label={t('retention.cron')} hint={t('retention.cronHint')} error={bad}>
          <input name="cron" class="mono" value={c} autocomplete="off"
                 onInput={(e) => setC(e.currentTarget.value)} />
        </Field>
      ) : null}
    </FormDialog>
  );
}

// The tasks of one run, one per repository, each with its log.
function Tasks({ base, execution }) {
  const path = `${base}/executions/${execution.id}/tasks`;
  const list = useLoad(() => api('GET', path, { query: { page_size: 100 } }), [path, execution.status]);
  const [shown, setShown] = useState(null);
  const [error, setError] = useState(null);
  const tasks = (list.data && list.data.data) || [];

  const open = async (task) => {
    setError(null);
    try {
      const r = await api('GET', `${path}/${task.id}`, { headers: { Accept: 'text/plain' } });
      setShown({ task, log: typeof r.data === 'string' ? r.data : '' });
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section data-test="retention-tasks">
      <h3>{t('retention.tasksOf', { id: execution.id })}</h3>
      <ErrorBox error={list.error || error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && !tasks.length ? <Empty title={t('retention.noTasks')} /> : null}
      {tasks.length ? (
        <table class="grid">
          <thead>
            <tr>
              <th>{t('retention.repository')}</th>
              <th>{t('policy.status')}</th>
              <th class="num">{t('retention.retained')}</th>
              <th>{t('retention.started')}</th>
              <th>{t('retention.ended')}</th>
              <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((x) => (
              <tr key={x.id} data-repository={x.repository} data-status={x.status}>
                <td class="mono">{x.repository}</td>
                <td><span class={`badge ${STATUS_CLASS[x.status] || ''}`}>{statusName(x.status)}</span></td>
                <td class="num">{t('retention.retainedOf', { retained: fmtNum(x.retained), total: fmtNum(x.total) })}</td>
                <td class="nowrap">{fmtTime(x.start_time)}</td>
                <td class="nowrap">{x.end_time ? fmtTime(x.end_time) : '—'}</td>
                <td class="actions">
                  <button type="button" class="small" onClick={() => open(x)}>{t('retention.log')}</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {shown ? (
        <Dialog title={t('retention.logOf', { repository: shown.task.repository })} wide
                onClose={() => setShown(null)} footer={
          <button type="button" class="primary" onClick={() => setShown(null)}>{t('retention.close')}</button>
        }>
          {shown.log ? <pre class="mono task-log" data-test="task-log">{shown.log}</pre>
            : <p class="muted">{t('retention.noLog')}</p>}
        </Dialog>
      ) : null}
    </section>
  );
}

// The runs of the policy, newest first, read again every 2 s while one
// is pending or running; the one picked shows its tasks.
function Executions({ base, canEdit, runs }) {
  const [at, setAt] = useState({ page: 1, size: 10 });
  const list = useLoad(() => api('GET', `${base}/executions`, { query: { page: at.page, page_size: at.size } }),
    [base, at.page, at.size, runs]);
  const [picked, setPicked] = useState(0);
  const [error, setError] = useState(null);
  const execs = (list.data && list.data.data) || [];
  const busy = execs.some((x) => x.status === 'Pending' || x.status === 'Running');
  const current = execs.find((x) => x.id === picked);

  useEffect(() => {
    if (!busy) {
      return undefined;
    }
    const id = setTimeout(list.reload, 2000);
    return () => clearTimeout(id);
  }, [list.data]);

  const stop = async (x) => {
    setError(null);
    try {
      await api('PATCH', `${base}/executions/${x.id}`, { body: { action: 'stop' } });
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section data-test="retention-executions">
      <div class="page-head">
        <h3>{t('retention.runs')}</h3>
        <button type="button" class="small" onClick={list.reload}>{t('retention.refresh')}</button>
      </div>
      <ErrorBox error={list.error} />
      <ErrorBox error={error} context="policy.save" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && !execs.length ? <Empty title={t('retention.noRuns')} /> : null}
      {execs.length ? (
        <table class="grid">
          <thead>
            <tr>
              <th>{t('retention.run')}</th>
              <th>{t('policy.status')}</th>
              <th>{t('retention.trigger')}</th>
              <th>{t('retention.dryRun')}</th>
              <th>{t('retention.started')}</th>
              <th>{t('retention.ended')}</th>
              <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {execs.map((x) => (
              <tr key={x.id} data-execution={x.id} data-status={x.status} data-dry-run={String(!!x.dry_run)}
                  class={x.id === picked ? 'selected' : ''}>
                <td>{x.id}</td>
                <td><span class={`badge ${STATUS_CLASS[x.status] || ''}`}>{statusName(x.status)}</span></td>
                <td>{x.trigger === 'SCHEDULE' ? t('retention.triggerSchedule') : t('retention.triggerManual')}</td>
                <td>{x.dry_run ? t('common.yes') : t('common.no')}</td>
                <td class="nowrap">{fmtTime(x.start_time)}</td>
                <td class="nowrap">{x.end_time ? fmtTime(x.end_time) : '—'}</td>
                <td class="actions nowrap">
                  <button type="button" class="small" aria-pressed={x.id === picked}
                          onClick={() => setPicked(x.id)}>{t('retention.tasks')}</button>
                  {canEdit && (x.status === 'Pending' || x.status === 'Running') ? (
                    <button type="button" class="small danger" onClick={() => stop(x)}>{t('retention.stop')}</button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {execs.length ? (
        <Pager page={at.page} size={at.size} total={list.data.total}
               onPage={(n) => setAt({ ...at, page: n })} onSize={(n) => setAt({ page: 1, size: n })} />
      ) : null}
      {current ? <Tasks base={base} execution={current} key={current.id} /> : null}
    </section>
  );
}

function Retention({ project, canEdit }) {
  const [created, setCreated] = useState(0);
  const id = created || Number((project.metadata || {}).retention_id) || 0;
  const base = `/retentions/${id}`;
  const pol = useLoad(() => (id ? api('GET', base) : Promise.resolve(null)), [id]);
  const [editing, setEditing] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const [scheduling, setScheduling] = useState(false);
  const [error, setError] = useState(null);
  const [runs, setRuns] = useState(0);
  const policy = pol.data && pol.data.data;
  const rules = (policy && policy.rules) || [];
  const cron = (policy && policy.trigger && policy.trigger.settings && policy.trigger.settings.cron) || '';

  // the whole policy with rules and cron replaced; the first rule makes it
  const put = async (newRules, newCron) => {
    const body = {
      algorithm: 'or',
      rules: newRules,
      trigger: { kind: 'Schedule', settings: { cron: newCron } },
      scope: { level: 'project', ref: project.project_id },
    };
    if (!id) {
      const r = await api('POST', '/retentions', { body });
      const m = /\/(\d+)$/.exec(r.headers.get('Location') || '');
      setCreated(m ? Number(m[1]) : 0);
      return;
    }
    await api('PUT', base, { body: { ...policy, ...body } });
    pol.reload();
  };

  const execute = async (dry) => {
    setError(null);
    try {
      await api('POST', `${base}/executions`, { body: { dry_run: dry } });
      setRuns(runs + 1);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section data-test="retention">
      <div class="page-head">
        <h2>{t('retention.title')}</h2>
        {canEdit ? (
          <button type="button" class="primary small" onClick={() => setEditing({})}>
            + {t('retention.newRule')}
          </button>
        ) : null}
      </div>
      <p class="muted">{t('retention.hint')}</p>
      <ErrorBox error={pol.error} />
      <ErrorBox error={error} context="policy.save" />
      {pol.loading && !pol.data && id ? <Loading /> : null}
      {!pol.loading && !rules.length ? <Empty title={t('retention.empty')} /> : null}
      {rules.length ? (
        <table class="grid" data-test="retention-rules">
          <thead>
            <tr>
              <th>{t('retention.template')}</th>
              <th>{t('policy.repositories')}</th>
              <th>{t('policy.tags')}</th>
              {canEdit ? <th class="actions"><span class="offscreen">{t('common.actions')}</span></th> : null}
            </tr>
          </thead>
          <tbody>
            {rules.map((r, i) => (
              <tr key={i} data-template={r.template}>
                <td>{templateText(r.template, (r.params || {})[r.template])}</td>
                <td class="mono">{selText(repoSel(r))}</td>
                <td class="mono">
                  {selText(tagSel(r))}
                  {untagged(tagSel(r)) ? <div class="muted small-text">{t('retention.withUntagged')}</div> : null}
                </td>
                {canEdit ? (
                  <td class="actions nowrap">
                    <button type="button" class="small" onClick={() => setEditing({ rule: r, i })}>
                      {t('common.edit')}
                    </button>
                    <button type="button" class="small danger" onClick={() => setDeleting({ rule: r, i })}>
                      {t('common.delete')}
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {policy ? (
        <>
          <dl class="facts" data-test="retention-schedule">
            <dt>{t('retention.schedule')}</dt>
            <dd>
              {cron ? <span class="mono">{cron}</span> : t('retention.scheduleNone')}{' '}
              {canEdit ? (
                <button type="button" class="small" onClick={() => setScheduling(true)}>{t('common.edit')}</button>
              ) : null}
            </dd>
          </dl>
          {canEdit ? (
            <div class="toolbar">
              <button type="button" disabled={!rules.length} onClick={() => execute(true)}>
                {t('retention.dryRunNow')}
              </button>
              <button type="button" class="primary" disabled={!rules.length} onClick={() => execute(false)}>
                {t('retention.runNow')}
              </button>
            </div>
          ) : null}
          <Executions base={base} canEdit={canEdit} runs={runs} />
        </>
      ) : null}
      {editing ? (
        <RetentionRuleForm rule={editing.rule || null}
                           onSave={(r) => put(editing.rule
                             ? rules.map((x, i) => (i === editing.i ? r : x)) : [...rules, r], cron)}
                           onClose={() => setEditing(null)} />
      ) : null}
      {scheduling ? (
        <ScheduleForm cron={cron} onSave={(c) => put(rules, c)} onClose={() => setScheduling(false)} />
      ) : null}
      {deleting ? (
        <Confirm title={t('retention.deleteRule')} action={t('common.delete')}
                 message={t('retention.deleteRuleConfirm',
                   { rule: templateText(deleting.rule.template, (deleting.rule.params || {})[deleting.rule.template]) })}
                 onConfirm={() => put(rules.filter((x, i) => i !== deleting.i), cron)}
                 onClose={() => setDeleting(null)} />
      ) : null}
    </section>
  );
}

export function ProjectPolicies({ project, ctx }) {
  const role = project.current_user_role_id;
  const canEdit = !!ctx.user.sysadmin_flag || role === 1 || role === 4;
  return (
    <>
      <ImmutableRules project={project} canEdit={canEdit} />
      <Retention project={project} canEdit={canEdit} />
    </>
  );
}
