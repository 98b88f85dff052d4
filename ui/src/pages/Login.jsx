import { useState } from 'preact/hooks';
import { login, sendResetEmail } from '../api.js';
import { languages, lang, t } from '../i18n.js';
import { ErrorBox, Field, Notice } from '../components.jsx';
import { Session } from '../session.js';

// "Forgot password?": the address of the account; the answer is the same
// whether it is anyone's, and so is what the page says.
function Forgot({ onBack }) {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await sendResetEmail(email.trim());
      setSent(true);
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };

  return (
    <form class="login-box" onSubmit={submit} data-test="forgot">
      <h1>{t('login.forgot.title')}</h1>
      {sent ? <Notice>{t('login.forgot.sent')}</Notice> : (
        <Field label={t('login.forgot.email')}>
          <input name="email" type="email" autocomplete="email" required value={email}
                 onInput={(e) => setEmail(e.currentTarget.value)} />
        </Field>
      )}
      <ErrorBox error={error} context="login.forgot" />
      {sent ? null : (
        <button type="submit" class="primary wide" disabled={busy}>{t('login.forgot.send')}</button>
      )}
      <button type="button" class="link" onClick={onBack}>{t('login.forgot.back')}</button>
    </form>
  );
}

export function LoginPage({ flash, onLogin, onLang }) {
  const [principal, setPrincipal] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [forgot, setForgot] = useState(false);

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

  if (forgot) {
    return (
      <div class="login">
        <Forgot onBack={() => setForgot(false)} />
      </div>
    );
  }

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
        <button type="button" class="link" onClick={() => setForgot(true)}>{t('login.forgot')}</button>
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
