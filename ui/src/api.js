// The REST API of authd, with the session cookie the browser holds.
// Unsafe methods carry X-Harbor-CSRF-Token, read from the __csrf cookie
// that /c/login sets (Harbor's scheme).

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)__csrf=([0-9a-f]+)/);
  return m ? m[1] : '';
}

// A repository name in a path, as Harbor's clients write it: the part
// after the project, encoded twice (a/b -> a%252Fb).
export function repoPath(project, repo) {
  return `/projects/${encodeURIComponent(project)}/repositories/`
    + encodeURIComponent(encodeURIComponent(repo));
}

// The repository name without its project: library/a/b -> a/b
export function repoShort(project, full) {
  return full.startsWith(`${project}/`) ? full.slice(project.length + 1) : full;
}

let onUnauthorized = () => {};

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function errorOf(res) {
  let message = '';
  let code = '';
  try {
    const j = await res.json();
    const e = j && j.errors && j.errors[0];
    if (e) {
      message = e.message || '';
      code = e.code || '';
    }
  } catch {
    // not JSON: nginx's own page, say
  }
  return new ApiError(res.status, message, code);
}

// api('GET', '/projects', { query: {page: 1}, body: {...}, headers: {} })
//   -> { data, total, headers, status }
export async function api(method, path, opts = {}) {
  const url = new URL(`/api/v2.0${path}`, location.origin);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v !== undefined && v !== null && v !== '') {
      url.searchParams.set(k, String(v));
    }
  }

  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (method !== 'GET' && method !== 'HEAD') {
    headers['X-Harbor-CSRF-Token'] = csrfToken();
  }

  let res;
  try {
    res = await fetch(url, { method, headers, body, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network error');
  }

  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !opts.quiet401) {
      onUnauthorized(err);
    }
    throw err;
  }

  let data = null;
  if (method !== 'HEAD' && res.status !== 204) {
    const text = await res.text();
    data = text && (res.headers.get('Content-Type') || '').includes('json')
      ? JSON.parse(text) : text;
  }

  const total = res.headers.get('X-Total-Count');
  return {
    data,
    status: res.status,
    headers: res.headers,
    total: total === null ? null : Number(total),
  };
}

export async function login(principal, password) {
  const body = new URLSearchParams({ principal, password });
  let res;
  try {
    res = await fetch('/c/login', {
      method: 'POST',
      body,
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
  } catch {
    throw new ApiError(0, 'network error');
  }
  if (!res.ok) {
    throw await errorOf(res);
  }
  return res.json();
}

// Password reset by email, with or without a session: the request, then
// the reset with the link's reset_uuid (a session's POST carries its
// CSRF token, as every unsafe request of a session must).
async function anonymous(method, path, init = {}) {
  const csrf = csrfToken();
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        Accept: 'application/json',
        ...(csrf ? { 'X-Harbor-CSRF-Token': csrf } : {}),
        ...init.headers,
      },
      body: init.body,
    });
  } catch {
    throw new ApiError(0, 'network error');
  }
  if (!res.ok) {
    throw await errorOf(res);
  }
}

export function sendResetEmail(email) {
  return anonymous('GET', `/c/sendEmail?email=${encodeURIComponent(email)}`);
}

export function resetPassword(uuid, password) {
  return anonymous('POST', '/c/reset', {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ reset_uuid: uuid, password }),
  });
}

export async function logout() {
  try {
    await fetch('/c/log_out', { credentials: 'same-origin' });
  } catch {
    // the cookie is gone with the session anyway
  }
}

// /v2 with a registry token the session asks for (read-only views of a
// manifest and a config blob).
export async function registryGet(repo, path, accept) {
  const scope = `repository:${repo}:pull`;
  const t = await fetch(`/service/token?service=harbor-registry&scope=${encodeURIComponent(scope)}`,
    { credentials: 'same-origin' });
  if (!t.ok) {
    throw await errorOf(t);
  }
  const { token } = await t.json();
  const res = await fetch(`/v2/${repo}/${path}`, {
    headers: { Authorization: `Bearer ${token}`, Accept: accept || '*/*' },
    credentials: 'omit',
  });
  if (!res.ok) {
    throw await errorOf(res);
  }
  return res.text();
}
