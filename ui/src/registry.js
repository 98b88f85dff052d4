// Where clients push and pull: the registry's host as authd's
// configuration names it (/systeminfo registry_url), else this page's.

export function registryHost(info) {
  const u = info && info.registry_url;
  if (u && u !== 'localhost') {
    return u.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  }
  return location.host;
}

export function plainHttp(info) {
  const ext = info && info.external_url;
  return ext ? ext.startsWith('http:') : location.protocol === 'http:';
}

// docker pull HOST/project/repo:tag (or @digest); podman needs
// --tls-verify=false for a registry on plain http
export function pullCommand(tool, info, repo, ref) {
  const sep = ref.startsWith('sha256:') || ref.includes(':') ? '@' : ':';
  const flag = tool === 'podman' && plainHttp(info) ? ' --tls-verify=false' : '';
  return `${tool} pull${flag} ${registryHost(info)}/${repo}${sep}${ref}`;
}

export function pushCommands(tool, info, project) {
  const host = registryHost(info);
  const flag = tool === 'podman' && plainHttp(info) ? ' --tls-verify=false' : '';
  return [
    `${tool} login${flag} ${host}`,
    `${tool} tag IMAGE ${host}/${project}/REPOSITORY[:TAG]`,
    `${tool} push${flag} ${host}/${project}/REPOSITORY[:TAG]`,
  ];
}
