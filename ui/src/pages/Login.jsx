import { useState } from 'preact/hooks';
import { login } from '../api.js';
import { languages, lang, t } from '../i18n.js';
import { ErrorBox, Field, Notice } from '../components.jsx';
import { Session } from '../session.js';

export function LoginPage({ flash, onLogin, onLang }) {
  const [principal, setPrincipal] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(principal.trim(), password);
      Session.setDefaultAdmin(principal.trim() === 'admin' && password === 'Harbor12345');
      await onLogin();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <div class="login">
      <form class="login-box" onSubmit={submit}>
        <h1>ngx-harbor</h1>
        <p class="muted">{t('login.subtitle')}</p>
        {flash ? <Notice>{flash}</Notice> : null}
        <Field label={t('login.username')}>
          <input name="principal" autocomplete="username" required value={principal}
                 onInput={(e) => setPrincipal(e.currentTarget.value)} />
        </Field>
        <Field label={t('login.password')}>
          <input name="password" type="password" autocomplete="current-password" required
                 value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
        <ErrorBox error={error} context="login" />
        <button type="submit" class="primary wide" disabled={busy}>{t('login.submit')}</button>
        <div class="login-langs" role="group" aria-label={t('menu.language')}>
          {languages.map((l) => (
            <button type="button" class={`link${lang() === l.id ? ' current' : ''}`}
                    aria-pressed={lang() === l.id} lang={l.id} onClick={() => onLang(l.id)}>
              {l.label}
            </button>
          ))}
        </div>
      </form>
    </div>
  );
}
