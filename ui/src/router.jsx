// Routing on the History API: nginx answers every unknown path with
// index.html (try_files), so a URL can be reloaded or shared.

import { useEffect, useState } from 'preact/hooks';

const EVENT = 'harbor:navigate';

export function navigate(to, { replace = false } = {}) {
  if (to === location.pathname + location.search) {
    return;
  }
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  window.dispatchEvent(new Event(EVENT));
  window.scrollTo(0, 0);
}

// The current path and query, re-rendering on every change.
export function useLocation() {
  const here = () => ({ path: location.pathname, query: new URLSearchParams(location.search) });
  const [loc, setLoc] = useState(here);

  useEffect(() => {
    const update = () => setLoc(here());
    window.addEventListener('popstate', update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(EVENT, update);
    };
  }, []);

  return loc;
}

// The first route whose pattern matches: [{ path: /^...$/, view, keys }]
// -> { view, params }.  Path segments are decoded one by one.
export function match(routes, path) {
  for (const r of routes) {
    const m = r.path.exec(path);
    if (m) {
      const params = {};
      (r.keys || []).forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1]);
      });
      return { view: r.view, params, route: r };
    }
  }
  return null;
}

// A link that navigates without reloading; modified clicks open as usual.
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey
        || e.shiftKey || e.altKey || rest.target) {
      return;
    }
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={onClick} {...rest}>{children}</a>;
}

// Update one query parameter of the current URL (pagination, filters).
export function withQuery(changes) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '') {
      q.delete(k);
    } else {
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  return location.pathname + (s ? `?${s}` : '');
}
