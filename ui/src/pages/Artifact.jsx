import { useState } from 'preact/hooks';
import { api, registryGet, repoPath } from '../api.js';
import { fmtSize, fmtTime, t } from '../i18n.js';
import { Link } from '../router.jsx';
import { CopyButton, Empty, ErrorBox, Loading, shortDigest, useLoad } from '../components.jsx';
import { artifactKind, platforms } from './Repository.jsx';
import { pullCommand } from '../registry.js';

const MANIFESTS = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function JsonBlock({ title, text, test }) {
  const [open, setOpen] = useState(true);
  return (
    <section class="json" data-test={test}>
      <div class="page-head">
        <h2>{title}</h2>
        <button type="button" class="small" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? t('common.hide') : t('common.show')}
        </button>
        <CopyButton text={text} />
      </div>
      {open ? <pre class="code">{text}</pre> : null}
    </section>
  );
}

export function ArtifactPage({ project, repo, reference, ctx }) {
  const full = `${project}/${repo}`;
  const base = `/projects/${encodeURIComponent(project)}/repositories/${encodeURIComponent(repo)}`;

  const art = useLoad(() => api('GET', `${repoPath(project, repo)}/artifacts/${encodeURIComponent(reference)}`, {
    query: { with_tag: 'true', with_accessory: 'true' },
  }), [project, repo, reference]);
  const a = art.data && art.data.data;

  // manifest and config through /v2 with a token of the session
  const raw = useLoad(async () => {
    if (!a) {
      return null;
    }
    const manifest = await registryGet(full, `manifests/${a.digest}`, MANIFESTS);
    let config = null;
    try {
      const m = JSON.parse(manifest);
      if (m.config && m.config.digest && m.config.size <= 1024 * 1024) {
        config = await registryGet(full, `blobs/${m.config.digest}`);
      }
    } catch {
      // shown as the text it is
    }
    return { manifest, config };
  }, [a && a.digest]);

  if (art.error) {
    return (
      <div class="page">
        <h1>{full}@{shortDigest(reference)}</h1>
        <ErrorBox error={art.error} context="artifact" />
        <p><Link href={base}>{t('artifact.backToRepo', { repo: full })}</Link></p>
      </div>
    );
  }
  if (!a) {
    return <div class="page"><Loading /></div>;
  }

  let manifest = null;
  try {
    manifest = raw.data ? JSON.parse(raw.data.manifest) : null;
  } catch {
    manifest = null;
  }
  const layers = (manifest && manifest.layers) || [];
  const children = (manifest && manifest.manifests) || [];
  const tags = a.tags || [];
  const plats = platforms(a);
  const referrers = a.accessories || [];

  return (
    <div class="page">
      <nav class="crumbs" aria-label={t('nav.crumbs')}>
        <Link href="/projects">{t('nav.projects')}</Link> <span aria-hidden="true">/</span>{' '}
        <Link href={`/projects/${encodeURIComponent(project)}`}>{project}</Link> <span aria-hidden="true">/</span>{' '}
        <Link href={base}>{repo}</Link> <span aria-hidden="true">/</span>
      </nav>
      <div class="page-head">
        <h1 class="mono">{shortDigest(a.digest)}</h1>
        <CopyButton text={a.digest} label={t('artifact.copyDigest')} />
      </div>

      <dl class="facts" data-test="artifact-facts">
        <dt>{t('artifact.digest')}</dt><dd class="mono break">{a.digest}</dd>
        <dt>{t('artifact.kind')}</dt><dd>{artifactKind(a)}</dd>
        <dt>{t('artifact.mediaType')}</dt><dd class="mono">{a.manifest_media_type}</dd>
        <dt>{t('artifact.tags')}</dt>
        <dd>{tags.length ? <span class="chips">{tags.map((x) => <span class="chip">{x.name}</span>)}</span> : <span class="muted">{t('tags.none')}</span>}</dd>
        {plats.length ? <><dt>{t('artifact.platforms')}</dt><dd>{plats.join(', ')}</dd></> : null}
        <dt>{t('artifact.size')}</dt><dd>{fmtSize(a.size)}</dd>
        <dt>{t('artifact.pushed')}</dt><dd>{fmtTime(a.push_time)}</dd>
        <dt>{t('artifact.pulled')}</dt><dd>{fmtTime(a.pull_time)}</dd>
        <dt>{t('artifact.pull')}</dt>
        <dd>
          {['docker', 'podman'].map((tool) => {
            const cmd = pullCommand(tool, ctx.info, full, tags.length ? tags[0].name : a.digest);
            return <div class="cmd"><code>{cmd}</code> <CopyButton text={cmd} /></div>;
          })}
        </dd>
      </dl>

      {children.length ? (
        <section>
          <h2>{t('artifact.children')}</h2>
          <table class="grid" data-test="children">
            <thead><tr><th>{t('artifact.digest')}</th><th>{t('artifact.platforms')}</th><th class="num">{t('artifact.size')}</th></tr></thead>
            <tbody>
              {children.map((c) => (
                <tr>
                  <td><Link href={`${base}/artifacts/${c.digest}`} class="mono">{shortDigest(c.digest)}</Link></td>
                  <td>{c.platform ? [c.platform.os, c.platform.architecture, c.platform.variant].filter(Boolean).join('/') : '—'}</td>
                  <td class="num">{fmtSize(c.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}

      {layers.length ? (
        <section>
          <h2>{t('artifact.layers')}</h2>
          <table class="grid" data-test="layers">
            <thead><tr><th>#</th><th>{t('artifact.digest')}</th><th>{t('artifact.mediaType')}</th><th class="num">{t('artifact.size')}</th></tr></thead>
            <tbody>
              {layers.map((l, i) => (
                <tr>
                  <td>{i + 1}</td>
                  <td class="mono" title={l.digest}>{shortDigest(l.digest)}</td>
                  <td class="mono small-text">{l.mediaType}</td>
                  <td class="num nowrap">{fmtSize(l.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}

      <section>
        <h2>{t('artifact.referrers')}</h2>
        {referrers.length ? (
          <table class="grid" data-test="referrers">
            <thead><tr><th>{t('artifact.digest')}</th><th>{t('artifact.kind')}</th><th class="num">{t('artifact.size')}</th><th>{t('common.created')}</th></tr></thead>
            <tbody>
              {referrers.map((r) => (
                <tr>
                  <td><Link href={`${base}/artifacts/${r.digest}`} class="mono">{shortDigest(r.digest)}</Link></td>
                  <td>{r.type}</td>
                  <td class="num">{fmtSize(r.size)}</td>
                  <td>{fmtTime(r.creation_time)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : <p class="muted">{t('artifact.noReferrers')}</p>}
      </section>

      <ErrorBox error={raw.error} context="artifact.manifest" />
      {raw.loading && !raw.data ? <Loading /> : null}
      {raw.data ? <JsonBlock title={t('artifact.manifest')} text={pretty(raw.data.manifest)} test="manifest" /> : null}
      {raw.data && raw.data.config ? <JsonBlock title={t('artifact.config')} text={pretty(raw.data.config)} test="config" /> : null}
      {raw.data && !raw.data.config && !children.length ? <Empty title={t('artifact.noConfig')} /> : null}
    </div>
  );
}
