/**
 * GET /, /console/app.js, /console/style.css (and /favicon.ico, empty): the dashboard, three static files read once at start
 * from `../page/` (no build step, no CDN). The server's strict CSP lets the page load nothing else.
 */
import { readFileSync } from 'node:fs';
import type { Handler, RouteContext } from '../route.ts';

/** The page's files and their content types. */
const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;

/** Answers GET for one of the page's files. */
export function pageRoute(_ctx: RouteContext, file: keyof typeof ASSETS): Handler {
  const body = readFileSync(new URL(`../page/${file}`, import.meta.url));
  return async () => ({ status: 200, contentType: ASSETS[file], body });
}

/** Answers GET /favicon.ico with 204: browsers ask for it, and a 404 would be a console error. */
export function faviconRoute(_ctx: RouteContext): Handler {
  return async () => ({ status: 204, contentType: 'image/x-icon', body: '' });
}
