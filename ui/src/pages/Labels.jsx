// Labels: Administration > Labels (global labels, system admins), a
// project's Labels tab (its own labels), and the pieces the artifact list
// uses: a label as a colored chip, the labels an artifact may take, the
// dialog that adds one.

import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { fmtTime, t } from '../i18n.js';
import {
  Confirm, Empty, ErrorBox, Field, FormDialog, Loading, UrlPager, useLoad,
} from '../components.jsx';
import { pageArgs } from './Projects.jsx';

const HEX = /^#[0-9a-fA-F]{6}$/;
const DEFAULT_COLOR = '#0b5394';

// black or white text, whichever reads better on the color
function inkOn(color) {
  if (!HEX.test(color || '')) {
    return null;
  }
  const n = parseInt(color.slice(1), 16);
  const lum = (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
  return lum > 0.6 ? '#1d2330' : '#fff';
}

// A label as a chip in its color (set through the style object, which the
// page's CSP allows, never as markup); onRemove adds an "x".
export function LabelChip({ label, onRemove }) {
  const ink = inkOn(label.color);
  const style = ink ? { backgroundColor: label.color, color: ink } : undefined;
  return (
    <span class="chip label-chip" data-label={label.name} style={style}
          title={label.description || label.name}>
      {label.name}
      {onRemove ? (
        <button type="button" class="chip-x" style={ink ? { color: ink } : undefined}
                aria-label={t('labels.removeNamed', { name: label.name })}
                title={t('labels.removeNamed', { name: label.name })}
                onClick={onRemove}>×</button>
      ) : null}
    </span>
  );
}

// The labels an artifact of the project may take: global ones and the
// project's own.
export function useProjectLabels(projectId) {
  return useLoad(async () => {
    if (!projectId) {
      return [];
    }
    const [g, p] = await Promise.all([
      api('GET', '/labels', { query: { scope: 'g', page_size: 100 } }),
      api('GET', '/labels', { query: { scope: 'p', project_id: projectId, page_size: 100 } }),
    ]);
    return [...(g.data || []), ...(p.data || [])];
  }, [projectId]);
}

// "Add label" on an artifact: one of the labels it does not have yet.
export function AddLabelDialog({ labels, artifact, onAdd, onClose }) {
  const have = new Set((artifact.labels || []).map((l) => l.id));
  const free = labels.filter((l) => !have.has(l.id));
  const [id, setId] = useState(free.length ? String(free[0].id) : '');

  return (
    <FormDialog id="add-label-form" title={t('labels.addTo')} submitLabel={t('labels.add')}
                ready={!!id} onSubmit={() => onAdd(Number(id))} onClose={onClose}
                context="labels.attach">
      {free.length ? (
        <Field label={t('labels.label')}>
          <select name="label" value={id} onChange={(e) => setId(e.currentTarget.value)}>
            {free.map((l) => (
              <option value={l.id}>
                {l.scope === 'g' ? t('labels.globalNamed', { name: l.name }) : l.name}
              </option>
            ))}
          </select>
        </Field>
      ) : <p class="muted">{t('labels.noneFree')}</p>}
    </FormDialog>
  );
}

function LabelForm({ label, scope, project, onClose }) {
  const [f, setF] = useState({
    name: label ? label.name : '',
    description: label ? label.description || '' : '',
    color: label && HEX.test(label.color || '') ? label.color : DEFAULT_COLOR,
  });
  const set = (k) => (e) => setF({ ...f, [k]: e.currentTarget.value });
  const name = f.name.trim();

  const save = () => {
    const body = { name, description: f.description.trim(), color: f.color };
    if (label) {
      return api('PUT', `/labels/${label.id}`, { body });
    }
    return api('POST', '/labels', {
      body: { ...body, scope, ...(project ? { project_id: project.project_id } : {}) },
    });
  };

  return (
    <FormDialog id="label-form" title={label ? t('labels.edit') : t('labels.new')}
                submitLabel={label ? t('common.save') : t('common.create')}
                ready={!!name} onSubmit={save} onClose={onClose} context="labels.save">
      <Field label={t('labels.name')}>
        <input name="name" value={f.name} autocomplete="off" maxLength={128} onInput={set('name')} />
      </Field>
      <Field label={t('labels.color')}>
        <span class="row">
          <input name="color" type="color" class="color" value={f.color} onInput={set('color')} />
          <LabelChip label={{ name: name || t('labels.preview'), color: f.color }} />
        </span>
      </Field>
      <Field label={t('labels.description')}>
        <input name="description" value={f.description} autocomplete="off" onInput={set('description')} />
      </Field>
    </FormDialog>
  );
}

function LabelList({ scope, project, manage, query }) {
  const { page, size } = pageArgs(query);
  const q = scope === 'p' ? { scope, project_id: project.project_id } : { scope };
  const list = useLoad(() => api('GET', '/labels', { query: { ...q, page, page_size: size } }),
    [scope, project && project.project_id, page, size]);
  const [editing, setEditing] = useState(null);     // {} new, or a label
  const [deleting, setDeleting] = useState(null);

  return (
    <section>
      <div class="toolbar">
        {manage ? (
          <button type="button" class="primary" onClick={() => setEditing({})}>+ {t('labels.new')}</button>
        ) : <span class="muted">{t('labels.readOnly')}</span>}
      </div>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? <Empty title={t('labels.empty')}>{t('labels.emptyHint')}</Empty> : null}
      {list.data && list.data.total > 0 ? (
        <>
          <table class="grid" data-test="labels">
            <thead>
              <tr>
                <th>{t('labels.name')}</th>
                <th>{t('labels.description')}</th>
                <th>{t('common.created')}</th>
                <th class="actions"><span class="offscreen">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((l) => (
                <tr key={l.id} data-label-row={l.name}>
                  <td><LabelChip label={l} /></td>
                  <td>{l.description}</td>
                  <td class="nowrap">{fmtTime(l.creation_time)}</td>
                  <td class="actions nowrap">
                    {manage ? (
                      <>
                        <button type="button" class="small" onClick={() => setEditing(l)}
                                aria-label={t('labels.editNamed', { name: l.name })}>
                          {t('common.edit')}
                        </button>
                        <button type="button" class="small danger" onClick={() => setDeleting(l)}
                                aria-label={t('labels.deleteNamed', { name: l.name })}>
                          {t('common.delete')}
                        </button>
                      </>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <UrlPager page={page} size={size} total={list.data.total} />
        </>
      ) : null}
      {editing ? (
        <LabelForm label={editing.id ? editing : null} scope={scope} project={project}
                   onClose={(done) => { setEditing(null); if (done) list.reload(); }} />
      ) : null}
      {deleting ? (
        <Confirm title={t('labels.delete')} action={t('common.delete')}
                 message={t('labels.deleteConfirm', { name: deleting.name })}
                 onConfirm={() => api('DELETE', `/labels/${deleting.id}`)}
                 onClose={(done) => { setDeleting(null); if (done) list.reload(); }} />
      ) : null}
    </section>
  );
}

// The project's tab: its administrators manage, its members read.
export function ProjectLabels({ project, ctx, query }) {
  const manage = ctx.user.sysadmin_flag || project.current_user_role_id === 1;
  return <LabelList scope="p" project={project} query={query} manage={manage} />;
}

// Administration > Labels: the global labels, for every project.
export function LabelsPage({ query }) {
  return (
    <div class="page">
      <div class="page-head">
        <h1>{t('labels.title')}</h1>
      </div>
      <p class="muted">{t('labels.globalHint')}</p>
      <LabelList scope="g" project={null} query={query} manage />
    </div>
  );
}
