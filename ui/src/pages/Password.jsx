import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { Dialog, ErrorBox, Field } from '../components.jsx';

// Harbor's rule, checked here to say it early; the server has the last word.
export function passwordProblem(pw) {
  if (!pw) {
    return '';
  }
  if (pw.length < 8 || pw.length > 128 || !/[A-Z]/.test(pw) || !/[a-z]/.test(pw) || !/[0-9]/.test(pw)) {
    return t('password.rule');
  }
  return '';
}

// The user's own password (old one needed), or, for an admin resetting
// someone else's, only the new one.
export function PasswordDialog({ user, target, onClose }) {
  const self = !target || target.user_id === user.user_id;
  const who = target || user;
  const [old, setOld] = useState('');
  const [pw, setPw] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const problem = passwordProblem(pw);
  const mismatch = again && again !== pw ? t('password.mismatch') : '';
  const ok = pw && !problem && again === pw && (!self || old);

  const submit = async (e) => {
    e.preventDefault();
    if (!ok) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = self ? { old_password: old, new_password: pw } : { new_password: pw };
      await api('PUT', `/users/${who.user_id}/password`, { body });
      onClose(self);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <Dialog title={self ? t('password.title') : t('password.resetTitle', { name: who.username })}
            onClose={() => onClose(false)}
            footer={
              <>
                <button type="button" onClick={() => onClose(false)}>{t('common.cancel')}</button>
                <button type="submit" form="pw-form" class="primary" disabled={!ok || busy}>
                  {t('common.save')}
                </button>
              </>
            }>
      <form id="pw-form" onSubmit={submit}>
        {self ? (
          <Field label={t('password.old')}>
            <input type="password" name="old_password" autocomplete="current-password" value={old}
                   onInput={(e) => setOld(e.currentTarget.value)} />
          </Field>
        ) : null}
        <Field label={t('password.new')} hint={t('password.rule')} error={problem}>
          <input type="password" name="new_password" autocomplete="new-password" value={pw}
                 onInput={(e) => setPw(e.currentTarget.value)} />
        </Field>
        <Field label={t('password.again')} error={mismatch}>
          <input type="password" name="new_password_again" autocomplete="new-password" value={again}
                 onInput={(e) => setAgain(e.currentTarget.value)} />
        </Field>
        {self ? <p class="muted">{t('password.logoutNote')}</p> : null}
        <ErrorBox error={error} context="password" />
      </form>
    </Dialog>
  );
}
