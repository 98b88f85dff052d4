// Small pieces the pages share.  Text only: nothing here renders HTML
// that came from data.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { t, errorText, fmtNum } from './i18n.js';
import { navigate, withQuery } from './router.jsx';

// Load something from the API and reload it on demand:
//   const { data, error, loading, reload } = useLoad(() => api(...), [deps])
export function useLoad(fn, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const seq = useRef(0);

  const reload = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    Promise.resolve()
      .then(fn)
      .then((data) => {
        if (n === seq.current) {
          setState({ loading: false, data, error: null });
        }
      })
      .catch((error) => {
        if (n === seq.current) {
          setState({ loading: false, data: null, error });
        }
      });
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(reload, [reload]);

  return { ...state, reload };
}

export function ErrorBox({ error, context }) {
  if (!error) {
    return null;
  }
  return (
    <div class="alert alert-error" role="alert">
      <div>{errorText(error, context)}</div>
      {error.message && error.status ? (
        <div class="alert-detail">{t('error.detail', { message: error.message })}</div>
      ) : null}
    </div>
  );
}

export function Notice({ children, kind = 'info' }) {
  return <div class={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>{children}</div>;
}

export function Loading() {
  return <div class="loading" aria-busy="true">{t('common.loading')}</div>;
}

export function Empty({ title, children }) {
  return (
    <div class="empty" data-test="empty">
      <div class="empty-title">{title}</div>
      {children ? <div class="empty-body">{children}</div> : null}
    </div>
  );
}

// A modal dialog; Escape and the cancel button close it.
export function Dialog({ title, onClose, children, footer, wide }) {
  const box = useRef(null);

  useEffect(() => {
    const onKey = (e) => {
      if (e.key === 'Escape') {
        onClose();
      }
    };
    window.addEventListener('keydown', onKey);
    const first = box.current && box.current.querySelector('input, select, textarea, button.primary');
    if (first) {
      first.focus();
    }
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <div class="overlay">
      <div class={`dialog${wide ? ' dialog-wide' : ''}`} role="dialog" aria-modal="true"
           aria-label={title} ref={box}>
        <h2>{title}</h2>
        <div class="dialog-body">{children}</div>
        {footer ? <div class="dialog-footer">{footer}</div> : null}
      </div>
    </div>
  );
}

// "Are you sure?" with the action's own words; runs onConfirm (a promise)
// and shows its error in place.
export function Confirm({ title, message, action, onConfirm, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose(true);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <Dialog title={title} onClose={() => onClose(false)} footer={
      <>
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="button" class="danger primary" disabled={busy} onClick={go}>{action}</button>
      </>
    }>
      <p>{message}</p>
      <ErrorBox error={error} />
    </Dialog>
  );
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // plain http on a name other than localhost: the old way
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.className = 'offscreen';
  document.body.appendChild(ta);
  ta.select();
  const ok = document.execCommand('copy');
  document.body.removeChild(ta);
  if (!ok) {
    throw new Error('copy failed');
  }
}

export function CopyButton({ text, label }) {
  const [state, setState] = useState('');

  const copy = async () => {
    try {
      await copyText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    setTimeout(() => setState(''), 1500);
  };

  return (
    <button type="button" class="copy" onClick={copy} title={t('common.copyTitle', { text })}
            aria-label={label || t('common.copy')} data-copy={text}>
      {state === 'copied' ? t('common.copied') : state === 'failed' ? t('common.copyFailed') : (label || t('common.copy'))}
    </button>
  );
}

// Server-side pages: page and size live in the URL.
export function Pager({ page, size, total, onPage, onSize }) {
  if (total === null || total === undefined) {
    return null;
  }
  const last = Math.max(1, Math.ceil(total / size));
  const from = total === 0 ? 0 : (page - 1) * size + 1;
  const to = Math.min(total, page * size);

  return (
    <div class="pager">
      <span class="pager-range">{t('pager.range', { from: fmtNum(from), to: fmtNum(to), total: fmtNum(total) })}</span>
      <label>
        {t('pager.size')}{' '}
        <select value={size} onChange={(e) => onSize(Number(e.currentTarget.value))}>
          {[10, 25, 50, 100].map((n) => <option value={n}>{n}</option>)}
        </select>
      </label>
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}
              aria-label={t('pager.prev')}>‹ {t('pager.prev')}</button>
      <span class="pager-page">{t('pager.page', { page: fmtNum(page), last: fmtNum(last) })}</span>
      <button type="button" disabled={page >= last} onClick={() => onPage(page + 1)}
              aria-label={t('pager.next')}>{t('pager.next')} ›</button>
    </div>
  );
}

// The Pager of a list whose page and size live in the URL.
export function UrlPager({ page, size, total }) {
  return (
    <Pager page={page} size={size} total={total}
           onPage={(n) => navigate(withQuery({ page: n }))}
           onSize={(n) => navigate(withQuery({ page_size: n, page: null }))} />
  );
}

// A dialog around one form: Cancel and the submit button in its footer,
// the submit disabled while the form is not ready or the request runs,
// the API's refusal shown in place (in the words of context).
// onSubmit returns a promise; the dialog closes with true when it resolves.
export function FormDialog({
  id, title, submitLabel, ready = true, onSubmit, onClose, context, wide, extra, children,
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const submit = async (e) => {
    e.preventDefault();
    if (!ready || busy) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onSubmit();
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={title} wide={wide} onClose={() => onClose(false)} footer={
      <>
        {extra}
        <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
        <button type="submit" form={id} class="primary" disabled={!ready || busy}>{submitLabel}</button>
      </>
    }>
      <form id={id} onSubmit={submit}>
        {children}
        <ErrorBox error={error} context={context} />
      </form>
    </Dialog>
  );
}

// A search box that applies after a pause in typing, or on Enter.
export function SearchBox({ value, onSearch, placeholder, label }) {
  const [v, setV] = useState(value || '');
  const timer = useRef(null);

  useEffect(() => setV(value || ''), [value]);

  const apply = (s) => {
    clearTimeout(timer.current);
    onSearch(s.trim());
  };

  return (
    <input type="search" class="search" value={v} placeholder={placeholder}
           aria-label={label || placeholder}
           onInput={(e) => {
             const s = e.currentTarget.value;
             setV(s);
             clearTimeout(timer.current);
             timer.current = setTimeout(() => apply(s), 350);
           }}
           onKeyDown={(e) => {
             if (e.key === 'Enter') {
               apply(e.currentTarget.value);
             }
           }} />
  );
}

export const ROLES = [1, 4, 2, 3, 5];

export function roleName(id) {
  return id ? t(`role.${id}`) : t('role.none');
}

export function Field({ label, hint, error, children }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {error ? <span class="field-error" role="alert">{error}</span>
        : hint ? <span class="field-hint">{hint}</span> : null}
    </label>
  );
}

export function shortDigest(d) {
  if (!d) {
    return '';
  }
  const i = d.indexOf(':');
  return i < 0 ? d.slice(0, 12) : `${d.slice(0, i + 1)}${d.slice(i + 1, i + 13)}`;
}
