import { useState } from 'preact/hooks';
import { api, repoPath } from '../api.js';
import { fmtSize, fmtTime, t } from '../i18n.js';
import { Link, navigate, withQuery } from '../router.jsx';
import {
  Confirm, CopyButton, Dialog, Empty, ErrorBox, Field, Loading, UrlPager, shortDigest, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';
import { PushHelp } from './Project.jsx';
import { AddLabelDialog, LabelChip, useProjectLabels } from './Labels.jsx';
import { pullCommand } from '../registry.js';

// the tag grammar of the distribution spec
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function platforms(a) {
  const seen = [];
  for (const r of a.references || []) {
    const p = r.platform;
    if (p && p.os) {
      const s = [p.os, p.architecture, p.variant].filter(Boolean).join('/');
      if (!seen.includes(s)) {
        seen.push(s);
      }
    }
  }
  return seen;
}

export function artifactKind(a) {
  if ((a.manifest_media_type || '').match(/index|list/)) {
    return t('artifact.kind.index');
  }
  if (a.type === 'IMAGE') {
    return t('artifact.kind.image');
  }
  return a.artifact_type || a.media_type || t('artifact.kind.other');
}

function AddTag({ project, repo, artifact, onClose }) {
  const [name, setName] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const problem = name && !TAG.test(name) ? t('tags.rule') : '';

  const submit = async (e) => {
    e.preventDefault();
    if (!name || problem) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api('POST', `${repoPath(project, repo)}/artifacts/${artifact.digest}/tags`, { body: { name } });
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={t('tags.add')} onClose={() => onClose(false)} footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form="tag-form" class="primary" disabled={!name || !!problem || busy}>
          {t('tags.addButton')}
        </button>
      </>
    }>
      <form id="tag-form" onSubmit={submit}>
        <p class="mono">{shortDigest(artifact.digest)}</p>
        <Field label={t('tags.name')} hint={t('tags.hint')} error={problem}>
          <input name="tag" value={name} autocomplete="off" maxLength={128}
                 onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <ErrorBox error={error} context="tags.add" />
      </form>
    </Dialog>
  );
}

function Description({ project, repo, value, canEdit, onSaved }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(value || '');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      await api('PUT', repoPath(project, repo), { body: { description: text } });
      setEditing(false);
      onSaved();
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };

  if (!editing) {
    return (
      <section class="description" data-test="description">
        <h2>{t('repo.description')}</h2>
        {value ? <p class="pre">{value}</p> : <p class="muted">{t('repo.noDescription')}</p>}
        {canEdit ? (
          <button type="button" onClick={() => { setText(value || ''); setEditing(true); }}>
            {t('repo.editDescription')}
          </button>
        ) : null}
      </section>
    );
  }

  return (
    <section class="description">
      <h2>{t('repo.description')}</h2>
      <textarea rows={5} value={text} aria-label={t('repo.description')} maxLength={65536}
                onInput={(e) => setText(e.currentTarget.value)} />
      <ErrorBox error={error} />
      <div class="row">
        <button type="button" onClick={() => setEditing(false)}>{t('common.cancel')}</button>
        <button type="button" class="primary" disabled={busy} onClick={save}>{t('common.save')}</button>
      </div>
    </section>
  );
}

export function RepositoryPage({ project, repo, ctx, query }) {
  const { page, size } = pageArgs(query);
  const full = `${project}/${repo}`;
  const [tool, setTool] = useState('docker');
  const [adding, setAdding] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const [labeling, setLabeling] = useState(null);
  const [labelError, setLabelError] = useState(null);
  const label = /^\d+$/.test(query.get('label') || '') ? query.get('label') : '';

  const proj = useLoad(() => api('GET', `/projects/${encodeURIComponent(project)}`,
    { headers: { 'X-Is-Resource-Name': 'true' } }), [project]);
  const info = useLoad(() => api('GET', repoPath(project, repo)), [project, repo]);
  const list = useLoad(() => api('GET', `${repoPath(project, repo)}/artifacts`, {
    query: {
      page, page_size: size, with_tag: 'true', sort: '-push_time', q: label ? `labels=${label}` : '',
    },
  }), [project, repo, page, size, label]);

  const p = proj.data && proj.data.data;
  const role = p ? p.current_user_role_id : 0;
  const sys = ctx.user.sysadmin_flag;
  const canPush = sys || [1, 2, 4].includes(role);
  const canDelete = sys || [1, 4].includes(role);
  const base = `/projects/${encodeURIComponent(project)}/repositories/${encodeURIComponent(repo)}`;
  const labels = useProjectLabels(p && p.project_id);
  const labelPath = (a) => `${repoPath(project, repo)}/artifacts/${a.digest}/labels`;

  const removeLabel = async (a, l) => {
    setLabelError(null);
    try {
      await api('DELETE', `${labelPath(a)}/${l.id}`);
      list.reload();
    } catch (err) {
      setLabelError(err);
    }
  };

  if (info.error) {
    return (
      <div class="page">
        <h1>{full}</h1>
        <ErrorBox error={info.error} context="repo" />
        <p><Link href={`/projects/${encodeURIComponent(project)}`}>{t('repo.backToProject', { project })}</Link></p>
      </div>
    );
  }

  const reload = () => {
    list.reload();
    info.reload();
  };

  return (
    <div class="page">
      <nav class="crumbs" aria-label={t('nav.crumbs')}>
        <Link href="/projects">{t('nav.projects')}</Link> <span aria-hidden="true">/</span>{' '}
        <Link href={`/projects/${encodeURIComponent(project)}`}>{project}</Link> <span aria-hidden="true">/</span>
      </nav>
      <div class="page-head">
        <h1>{repo}</h1>
        <button type="button" class="danger small" hidden={!canDelete}
                onClick={() => setConfirm({ kind: 'repo' })}>{t('repo.delete')}</button>
      </div>
      {info.data ? (
        <Description project={project} repo={repo} value={info.data.data.description}
                     canEdit={canDelete} onSaved={info.reload} />
      ) : null}

      <div class="page-head">
        <h2>{t('repo.artifacts')}</h2>
        <div class="tool-switch" role="group" aria-label={t('pull.tool')}>
          {['docker', 'podman'].map((x) => (
            <button type="button" aria-pressed={tool === x} class={tool === x ? 'current' : ''}
                    onClick={() => setTool(x)}>{x}</button>
          ))}
        </div>
      </div>
      {labels.data && (labels.data.length || label) ? (
        <div class="toolbar">
          <label>
            {t('labels.filter')}{' '}
            <select name="label-filter" value={label}
                    onChange={(e) => navigate(withQuery({ label: e.currentTarget.value, page: null }),
                      { replace: true })}>
              <option value="">{t('labels.filterAll')}</option>
              {labels.data.map((l) => <option value={String(l.id)}>{l.name}</option>)}
            </select>
          </label>
        </div>
      ) : null}
      <ErrorBox error={list.error || labels.error} />
      <ErrorBox error={labelError} context="labels.attach" />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 && label ? <Empty title={t('labels.noMatch')} /> : null}
      {list.data && list.data.total === 0 && !label ? (
        <Empty title={t('repo.empty')}>
          <p>{t('repo.emptyHint')}</p>
          <PushHelp info={ctx.info} project={project} />
        </Empty>
      ) : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="artifacts">
            <thead>
              <tr>
                <th>{t('artifact.digest')}</th>
                <th>{t('artifact.tags')}</th>
                <th>{t('labels.column')}</th>
                <th>{t('artifact.kind')}</th>
                <th class="num">{t('artifact.size')}</th>
                <th>{t('artifact.pushed')}</th>
                <th>{t('artifact.pulled')}</th>
                <th>{t('artifact.pull')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((a) => {
                const tags = a.tags || [];
                const ref = tags.length ? tags[0].name : a.digest;
                const cmd = pullCommand(tool, ctx.info, full, ref);
                const plats = platforms(a);
                return (
                  <tr key={a.id} data-digest={a.digest}>
                    <td class="nowrap">
                      <Link href={`${base}/artifacts/${a.digest}`} class="mono" title={a.digest}>
                        {shortDigest(a.digest)}
                      </Link>{' '}
                      <CopyButton text={a.digest} label={t('artifact.copyDigest')} />
                    </td>
                    <td>
                      <div class="chips">
                        {tags.map((tg) => (
                          <span class="chip" data-tag={tg.name}>
                            {tg.name}
                            {canDelete ? (
                              <button type="button" class="chip-x"
                                      aria-label={t('tags.deleteNamed', { tag: tg.name })}
                                      title={t('tags.deleteNamed', { tag: tg.name })}
                                      onClick={() => setConfirm({ kind: 'tag', a, tag: tg.name })}>×</button>
                            ) : null}
                          </span>
                        ))}
                        {canPush ? (
                          <button type="button" class="small" onClick={() => setAdding(a)}
                                  aria-label={t('tags.addTo', { digest: shortDigest(a.digest) })}>
                            + {t('tags.add')}
                          </button>
                        ) : null}
                        {!tags.length && !canPush ? <span class="muted">{t('tags.none')}</span> : null}
                      </div>
                    </td>
                    <td>
                      <div class="chips" data-test="artifact-labels">
                        {(a.labels || []).map((l) => (
                          <LabelChip label={l} onRemove={canPush ? () => removeLabel(a, l) : null} />
                        ))}
                        {canPush && labels.data && labels.data.length ? (
                          <button type="button" class="small" onClick={() => setLabeling(a)}
                                  aria-label={t('labels.addToNamed', { digest: shortDigest(a.digest) })}>
                            + {t('labels.add')}
                          </button>
                        ) : null}
                      </div>
                    </td>
                    <td>
                      {artifactKind(a)}
                      {plats.length ? <div class="muted small-text">{plats.join(', ')}</div> : null}
                    </td>
                    <td class="num nowrap">{fmtSize(a.size)}</td>
                    <td class="nowrap">{fmtTime(a.push_time)}</td>
                    <td class="nowrap">{fmtTime(a.pull_time)}</td>
                    <td><CopyButton text={cmd} label={t('artifact.copyPull')} /></td>
                    <td class="actions">
                      {canDelete ? (
                        <button type="button" class="danger small"
                                aria-label={t('artifact.deleteNamed', { digest: shortDigest(a.digest) })}
                                onClick={() => setConfirm({ kind: 'artifact', a })}>
                          {t('common.delete')}
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <UrlPager page={page} size={size} total={list.data.total} />
        </>
      ) : null}

      {labeling ? (
        <AddLabelDialog labels={labels.data || []} artifact={labeling}
                        onAdd={(id) => api('POST', labelPath(labeling), { body: { id } })}
                        onClose={(done) => { setLabeling(null); if (done) list.reload(); }} />
      ) : null}
      {adding ? (
        <AddTag project={project} repo={repo} artifact={adding}
                onClose={(done) => { setAdding(null); if (done) reload(); }} />
      ) : null}
      {confirm && confirm.kind === 'tag' ? (
        <Confirm title={t('tags.delete')} action={t('common.delete')}
                 message={t('tags.deleteConfirm', { tag: confirm.tag, repo: full })}
                 onConfirm={() => api('DELETE', `${repoPath(project, repo)}/artifacts/${confirm.a.digest}/tags/${encodeURIComponent(confirm.tag)}`)}
                 onClose={(done) => { setConfirm(null); if (done) reload(); }} />
      ) : null}
      {confirm && confirm.kind === 'artifact' ? (
        <Confirm title={t('artifact.delete')} action={t('common.delete')}
                 message={t('artifact.deleteConfirm', {
                   digest: shortDigest(confirm.a.digest),
                   tags: (confirm.a.tags || []).map((x) => x.name).join(', ') || t('tags.none'),
                 })}
                 onConfirm={() => api('DELETE', `${repoPath(project, repo)}/artifacts/${confirm.a.digest}`)}
                 onClose={(done) => { setConfirm(null); if (done) reload(); }} />
      ) : null}
      {confirm && confirm.kind === 'repo' ? (
        <Confirm title={t('repo.delete')} action={t('common.delete')}
                 message={t('repo.deleteConfirm', { repo: full })}
                 onConfirm={() => api('DELETE', repoPath(project, repo))}
                 onClose={(done) => {
                   setConfirm(null);
                   if (done) {
                     navigate(`/projects/${encodeURIComponent(project)}`);
                   }
                 }} />
      ) : null}
    </div>
  );
}
