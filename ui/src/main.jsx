// ngx-harbor's web UI: the application shell (session, header, routes).

import { render } from 'preact';
import { useEffect, useState, useRef } from 'preact/hooks';

import { api, logout, setUnauthorizedHandler } from './api.js';
import { languages, lang, setLang, t } from './i18n.js';
import { Link, match, navigate, useLocation } from './router.jsx';
import { Loading, Notice } from './components.jsx';
import { Session } from './session.js';

import { LoginPage } from './pages/Login.jsx';
import { ResetPage } from './pages/Reset.jsx';
import { ProjectsPage } from './pages/Projects.jsx';
import { ProjectPage } from './pages/Project.jsx';
import { RepositoryPage } from './pages/Repository.jsx';
import { ArtifactPage } from './pages/Artifact.jsx';
import { SearchPage } from './pages/Search.jsx';
import { UsersPage } from './pages/Users.jsx';
import { AuditPage } from './pages/Audit.jsx';
import { SettingsPage } from './pages/Settings.jsx';
import { SystemRobotsPage } from './pages/Robots.jsx';
import { RegistriesPage } from './pages/Registries.jsx';
import { ExecutionPage, ReplicationPage } from './pages/Replication.jsx';
import { UserGroupsPage } from './pages/UserGroups.jsx';
import { LabelsPage } from './pages/Labels.jsx';
import { PasswordDialog } from './pages/Password.jsx';

import './style.css';

const SEG = '([^/]+)';
const routes = [
  { path: /^\/projects\/?$/, view: ProjectsPage },
  { path: new RegExp(`^/projects/${SEG}/repositories/${SEG}/artifacts/${SEG}/?$`),
    keys: ['project', 'repo', 'reference'], view: ArtifactPage },
  { path: new RegExp(`^/projects/${SEG}/repositories/${SEG}/?$`),
    keys: ['project', 'repo'], view: RepositoryPage },
  { path: new RegExp(`^/projects/${SEG}(?:/(repositories|members|labels|robots|policy|webhooks|logs|summary))?/?$`),
    keys: ['project', 'tab'], view: ProjectPage },
  { path: /^\/search\/?$/, view: SearchPage },
  { path: /^\/admin\/users\/?$/, view: UsersPage, admin: true },
  { path: /^\/admin\/audit-logs\/?$/, view: AuditPage, admin: true },
  { path: /^\/admin\/configurations\/?$/, view: SettingsPage, admin: true },
  { path: /^\/admin\/robots\/?$/, view: SystemRobotsPage, admin: true },
  { path: /^\/admin\/registries\/?$/, view: RegistriesPage, admin: true },
  { path: /^\/admin\/replications\/?$/, view: ReplicationPage, admin: true },
  { path: /^\/admin\/replications\/executions\/(\d+)\/?$/, keys: ['id'], view: ExecutionPage, admin: true },
  { path: /^\/admin\/groups\/?$/, view: UserGroupsPage, admin: true },
  { path: /^\/admin\/labels\/?$/, view: LabelsPage, admin: true },
];

function UserMenu({ user, onLang, onLogout, onPassword }) {
  const [open, setOpen] = useState(false);
  const ref = useRef(null);

  useEffect(() => {
    if (!open) {
      return undefined;
    }
    const close = (e) => {
      if (ref.current && !ref.current.contains(e.target)) {
        setOpen(false);
      }
    };
    document.addEventListener('click', close);
    return () => document.removeEventListener('click', close);
  }, [open]);

  return (
    <div class="menu" ref={ref}>
      <button type="button" class="menu-button" aria-haspopup="menu" aria-expanded={open}
              onClick={() => setOpen(!open)} data-test="user-menu">
        {user.username}
        {user.sysadmin_flag ? <span class="pill">{t('nav.admin')}</span> : null} ▾
      </button>
      {open ? (
        <div class="menu-list" role="menu">
          <button type="button" role="menuitem" onClick={() => { setOpen(false); onPassword(); }}>
            {t('menu.changePassword')}
          </button>
          <div class="menu-group" role="group" aria-label={t('menu.language')}>
            <span class="menu-label">{t('menu.language')}</span>
            {languages.map((l) => (
              <button type="button" role="menuitemradio" aria-checked={lang() === l.id}
                      class={lang() === l.id ? 'current' : ''} lang={l.id}
                      onClick={() => { setOpen(false); onLang(l.id); }}>
                {lang() === l.id ? '✓ ' : ''}{l.label}
              </button>
            ))}
          </div>
          <button type="button" role="menuitem" onClick={() => { setOpen(false); onLogout(); }}>
            {t('menu.logout')}
          </button>
        </div>
      ) : null}
    </div>
  );
}

function GlobalSearch() {
  const loc = useLocation();
  const [q, setQ] = useState(loc.path === '/search' ? loc.query.get('q') || '' : '');

  useEffect(() => {
    if (loc.path === '/search') {
      setQ(loc.query.get('q') || '');
    }
  }, [loc.path, loc.query.toString()]);

  const submit = (e) => {
    e.preventDefault();
    const s = q.trim();
    if (s) {
      navigate(`/search?q=${encodeURIComponent(s)}`);
    }
  };

  return (
    <form class="global-search" role="search" onSubmit={submit}>
      <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)}
             placeholder={t('search.placeholder')} aria-label={t('search.label')}
             data-test="global-search" />
    </form>
  );
}

function Forbidden() {
  return (
    <div class="page">
      <h1>{t('forbidden.title')}</h1>
      <Notice kind="error">{t('forbidden.admin')}</Notice>
      <p><Link href="/projects">{t('common.backToProjects')}</Link></p>
    </div>
  );
}

function NotFound() {
  return (
    <div class="page">
      <h1>{t('notFound.title')}</h1>
      <p>{t('notFound.body')}</p>
      <p><Link href="/projects">{t('common.backToProjects')}</Link></p>
    </div>
  );
}

function App() {
  const loc = useLocation();
  const [user, setUser] = useState(undefined);      // undefined: not known yet
  const [info, setInfo] = useState({});
  const [, setLangState] = useState(lang());
  const [flash, setFlash] = useState('');
  const [pwDialog, setPwDialog] = useState(false);

  const loadUser = async () => {
    try {
      const r = await api('GET', '/users/current', { quiet401: true });
      setUser(r.data);
    } catch {
      setUser(null);
    }
    try {
      const r = await api('GET', '/systeminfo', { quiet401: true });
      setInfo(r.data || {});
    } catch {
      // the pull commands fall back to this page's host
    }
  };

  useEffect(() => {
    loadUser();
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setUser(null);
      setFlash(t('login.expired'));
    });
  }, []);

  // not logged in: the login page, coming back here afterwards
  useEffect(() => {
    if (user === null && loc.path !== '/login' && loc.path !== '/reset-password') {
      const next = loc.path === '/' ? '' : `?next=${encodeURIComponent(loc.path + location.search)}`;
      navigate(`/login${next}`, { replace: true });
    }
    if (user && (loc.path === '/' || loc.path === '/login')) {
      navigate('/projects', { replace: true });
    }
  }, [user, loc.path]);

  const changeLang = (id) => {
    setLang(id);
    setLangState(id);
  };

  const doLogout = async () => {
    await logout();
    Session.clear();
    setUser(null);
    setFlash(t('login.loggedOut'));
  };

  if (user === undefined) {
    return <Loading />;
  }

  // a mailed reset link works with or without a session
  if (loc.path === '/reset-password') {
    return (
      <ResetPage query={loc.query} onDone={(msg) => {
        setFlash(msg);
        setUser(null);
        navigate('/login', { replace: true });
      }} />
    );
  }

  if (user === null) {
    return (
      <LoginPage flash={flash} onLang={changeLang} onLogin={async () => {
        setFlash('');
        await loadUser();
        const next = loc.query.get('next');
        navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/projects',
          { replace: true });
      }} />
    );
  }

  const m = match(routes, loc.path);
  const ctx = { user, info, reloadUser: loadUser };
  let body;
  if (!m) {
    body = loc.path === '/' || loc.path === '/login' ? <Loading /> : <NotFound />;
  } else if (m.route.admin && !user.sysadmin_flag) {
    body = <Forbidden />;
  } else {
    const View = m.view;
    body = <View {...m.params} ctx={ctx} query={loc.query} key={loc.path} />;
  }

  const here = (p) => (loc.path.startsWith(p) ? 'active' : '');

  return (
    <div class="shell">
      <header class="top">
        <Link href="/projects" class="brand">ngx-harbor</Link>
        <nav aria-label={t('nav.label')}>
          <Link href="/projects" class={here('/projects')}>{t('nav.projects')}</Link>
          {user.sysadmin_flag ? (
            <>
              <Link href="/admin/users" class={here('/admin/users')}>{t('nav.users')}</Link>
              <Link href="/admin/audit-logs" class={here('/admin/audit-logs')}>{t('nav.audit')}</Link>
              <Link href="/admin/configurations" class={here('/admin/configurations')}>{t('settings.nav')}</Link>
              <Link href="/admin/robots" class={here('/admin/robots')}>{t('nav.robots')}</Link>
              <Link href="/admin/groups" class={here('/admin/groups')}>{t('nav.groups')}</Link>
              <Link href="/admin/registries" class={here('/admin/registries')}>{t('nav.registries')}</Link>
              <Link href="/admin/replications" class={here('/admin/replications')}>{t('nav.replications')}</Link>
              <Link href="/admin/labels" class={here('/admin/labels')}>{t('nav.labels')}</Link>
            </>
          ) : null}
        </nav>
        <GlobalSearch />
        <UserMenu user={user} onLang={changeLang} onLogout={doLogout}
                  onPassword={() => setPwDialog(true)} />
      </header>
      {Session.defaultAdmin() && user.username === 'admin' ? (
        <div class="banner" role="alert">{t('banner.defaultPassword')}</div>
      ) : null}
      <main>{body}</main>
      {pwDialog ? (
        <PasswordDialog user={user} onClose={(changed) => {
          setPwDialog(false);
          if (changed) {
            // a new password ends every session: log in again
            Session.clear();
            setUser(null);
            setFlash(t('password.changedLogin'));
          }
        }} />
      ) : null}
    </div>
  );
}

render(<App />, document.getElementById('app'));
