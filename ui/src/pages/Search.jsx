import { api, repoShort } from '../api.js';
import { fmtNum, t } from '../i18n.js';
import { Link } from '../router.jsx';
import { Empty, ErrorBox, Loading, useLoad } from '../components.jsx';

export function SearchPage({ query }) {
  const q = (query.get('q') || '').trim();
  const res = useLoad(() => (q ? api('GET', '/search', { query: { q } }) : Promise.resolve(null)), [q]);
  const d = res.data && res.data.data;
  const projects = (d && d.project) || [];
  const repos = (d && d.repository) || [];

  return (
    <div class="page">
      <h1>{q ? t('search.title', { q }) : t('search.titleEmpty')}</h1>
      <ErrorBox error={res.error} />
      {!q ? <p class="muted">{t('search.hint')}</p> : null}
      {res.loading && q ? <Loading /> : null}
      {d && !projects.length && !repos.length ? (
        <Empty title={t('search.none', { q })}>{t('search.noneHint')}</Empty>
      ) : null}
      {projects.length ? (
        <section>
          <h2>{t('search.projects', { n: projects.length })}</h2>
          <table class="grid" data-test="search-projects">
            <thead><tr><th>{t('projects.name')}</th><th>{t('projects.access')}</th><th class="num">{t('projects.repoCount')}</th></tr></thead>
            <tbody>
              {projects.map((p) => (
                <tr>
                  <td><Link href={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</Link></td>
                  <td>{p.metadata && p.metadata.public === 'true' ? t('projects.publicLabel') : t('projects.privateLabel')}</td>
                  <td class="num">{fmtNum(p.repo_count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      {repos.length ? (
        <section>
          <h2>{t('search.repositories', { n: repos.length })}</h2>
          <table class="grid" data-test="search-repositories">
            <thead><tr><th>{t('repos.name')}</th><th>{t('projects.access')}</th><th class="num">{t('repos.artifacts')}</th><th class="num">{t('repos.pulls')}</th></tr></thead>
            <tbody>
              {repos.map((r) => (
                <tr>
                  <td>
                    <Link href={`/projects/${encodeURIComponent(r.project_name)}/repositories/${encodeURIComponent(repoShort(r.project_name, r.repository_name))}`}>
                      {r.repository_name}
                    </Link>
                  </td>
                  <td>{r.project_public ? t('projects.publicLabel') : t('projects.privateLabel')}</td>
                  <td class="num">{fmtNum(r.artifact_count)}</td>
                  <td class="num">{fmtNum(r.pull_count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </div>
  );
}
