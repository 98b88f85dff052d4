// /reset-password?reset_uuid=...: the page of the link a password reset
// mail carries (no session).  The new password twice, then POST /c/reset;
// done, back to the login page with a word.

import { useState } from 'preact/hooks';
import { resetPassword } from '../api.js';
import { t } from '../i18n.js';
import { ErrorBox, Field, Notice } from '../components.jsx';

export function ResetPage({ query, onDone }) {
  const uuid = query.get('reset_uuid') || '';
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const mismatch = again !== '' && again !== password;

  const submit = async (e) => {
    e.preventDefault();
    if (mismatch) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await resetPassword(uuid, password);
      onDone(t('reset.done'));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <div class="login">
      <form class="login-box" onSubmit={submit} data-test="reset">
        <h1>{t('reset.title')}</h1>
        {uuid ? null : <Notice kind="error">{t('reset.noLink')}</Notice>}
        <Field label={t('reset.password')} hint={t('reset.password.hint')}>
          <input name="password" type="password" autocomplete="new-password" required
                 value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
        <Field label={t('reset.again')} error={mismatch ? t('reset.mismatch') : null}>
          <input name="again" type="password" autocomplete="new-password" required
                 value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
        </Field>
        <ErrorBox error={error} context="reset" />
        <button type="submit" class="primary wide" disabled={busy || !uuid || mismatch}>
          {t('reset.submit')}
        </button>
      </form>
    </div>
  );
}
