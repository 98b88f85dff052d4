// Storage quotas in the UI: a project's usage against its limit as a bar
// (green, amber from 85%, red at 100%), the limit's field with units for
// the create and edit forms, and the dialog that changes a limit (system
// administrators only, as the API).

import { useState } from 'preact/hooks';
import { api } from './api.js';
import { fmtSize, t } from './i18n.js';
import { Field, FormDialog, useLoad } from './components.jsx';

export const WARN_PCT = 85;     // QUOTA_WARNING's mark, authd's too

const UNITS = [['MiB', 2 ** 20], ['GiB', 2 ** 30], ['TiB', 2 ** 40]];
const MAX = 2 ** 50;            // 1024 TiB: what authd accepts

export function QuotaBar({ used, hard }) {
  if (used === undefined || used === null) {
    return <span class="muted">—</span>;
  }
  if (hard === undefined || hard === null || hard < 0) {
    return (
      <span class="quota" data-test="quota" data-level="none">
        {t('quota.usedUnlimited', { used: fmtSize(used) })}
      </span>
    );
  }
  const pct = hard > 0 ? (used * 100) / hard : 100;
  const level = pct >= 100 ? 'full' : pct >= WARN_PCT ? 'warn' : 'ok';
  return (
    <span class="quota" data-test="quota" data-level={level}
          title={t('quota.percent', { pct: Math.floor(pct) })}>
      <span class="quota-bar" role="meter" aria-valuemin="0" aria-valuemax={hard} aria-valuenow={used}
            aria-label={t('quota.meter')}>
        <span class={`quota-fill quota-${level}`} style={{ width: `${Math.min(100, pct)}%` }} />
      </span>
      <span class="quota-text">{t('quota.usedOf', { used: fmtSize(used), hard: fmtSize(hard) })}</span>
    </span>
  );
}

// a project's bar, from its summary (any member may read it)
export function ProjectQuota({ name }) {
  const s = useLoad(() => api('GET', `/projects/${encodeURIComponent(name)}/summary`), [name]);
  const q = s.data && s.data.data && s.data.data.quota;
  return q ? <QuotaBar used={q.used && q.used.storage} hard={q.hard && q.hard.storage} />
    : <span class="muted">—</span>;
}

// bytes (-1: none) <-> the form's {limited, amount, unit}
export function limitForm(bytes) {
  if (bytes === undefined || bytes === null || bytes < 0) {
    return { limited: false, amount: '', unit: 'GiB' };
  }
  let u = UNITS[0];
  for (const x of UNITS) {
    if (bytes >= x[1] && bytes % x[1] === 0) {
      u = x;
    }
  }
  return { limited: true, amount: String(bytes / u[1]), unit: u[0] };
}

// the bytes of a form, or null with the reason when it is not one
export function limitBytes(f) {
  if (!f.limited) {
    return { bytes: -1 };
  }
  const n = Number(f.amount);
  const unit = UNITS.find((x) => x[0] === f.unit);
  if (f.amount === '' || !Number.isFinite(n) || n <= 0 || !unit) {
    return { bytes: null, problem: t('quota.amountRule') };
  }
  const bytes = Math.round(n * unit[1]);
  if (bytes > MAX) {
    return { bytes: null, problem: t('quota.tooLarge') };
  }
  return { bytes };
}

export function LimitField({ form, onChange }) {
  const { problem } = limitBytes(form);
  return (
    <Field label={t('quota.limit')} hint={t('quota.limitHint')} error={problem}>
      <span class="quota-field">
        <label class="check">
          <input type="checkbox" name="storage_limited" checked={form.limited}
                 onChange={(e) => onChange({ ...form, limited: e.currentTarget.checked })} />
          <span>{t('quota.limited')}</span>
        </label>
        <input name="storage_amount" type="number" min="0" step="any" inputmode="decimal"
               value={form.amount} disabled={!form.limited} aria-label={t('quota.amount')}
               onInput={(e) => onChange({ ...form, amount: e.currentTarget.value })} />
        <select name="storage_unit" value={form.unit} disabled={!form.limited} aria-label={t('quota.unit')}
                onChange={(e) => onChange({ ...form, unit: e.currentTarget.value })}>
          {UNITS.map(([u]) => <option value={u}>{u}</option>)}
        </select>
      </span>
    </Field>
  );
}

// the limit of project (its summary's hard), changed
export function EditQuota({ project, hard, onClose }) {
  const [form, setForm] = useState(limitForm(hard));
  const { bytes } = limitBytes(form);

  return (
    <FormDialog id="quota-form" title={t('quota.edit')} submitLabel={t('common.save')}
                ready={bytes !== null} context="quota.edit" onClose={onClose}
                onSubmit={() => api('PUT', `/projects/${encodeURIComponent(project)}`, {
                  headers: { 'X-Is-Resource-Name': 'true' },
                  body: { storage_limit: bytes },
                })}>
      <LimitField form={form} onChange={setForm} />
    </FormDialog>
  );
}
