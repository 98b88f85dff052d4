// Vite builds the UI into dist/, which nginx serves at / (see docs/ui.md).
// JSX goes through Vite's own transform with Preact's runtime: no plugin.
//
//   npm run dev     a dev server on :5173 that proxies the API to a
//                   running instance (HARBOR_URL, default :8080)
//   npm run build   dist/

import { defineConfig } from 'vite';

const target = process.env.HARBOR_URL || 'http://127.0.0.1:8080';
const proxy = { target, changeOrigin: false };

export default defineConfig({
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    target: 'es2022',
    // no inline scripts or styles: the CSP allows 'self' only
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { '/api': proxy, '/c': proxy, '/service': proxy, '/v2': proxy },
  },
});
