/**
 * app.js: the console's entry point. Signs in and out, keeps the session (its CSRF token in memory only;
 * the session itself is an HttpOnly cookie the page cannot read), and routes the location hash to a view:
 *
 *   #/buckets                      buckets (views/buckets.js)
 *   #/b/BUCKET?prefix=P            objects under a prefix (views/objects.js)
 *   #/b/BUCKET/settings            bucket settings (views/settings.js)
 *   #/o/BUCKET?key=K               one object (views/object.js)
 *   #/share?bucket=B&key=K         links and upload tickets (views/share.js)
 *   #/identity                     users, policies, roles (views/identity.js)
 *   #/why?principal=&action=&resource=   "why was this denied?" (views/why.js)
 *   #/audit                        the audit log, live (views/audit.js)
 */

import * as api from './api.js';
import { clear, el, errorText, notify } from './dom.js';

const $ = (id) => document.getElementById(id);

let session = null;
let cleanup = null;

/**
 * The view module for parsed hash path, and the nav section it belongs to. Views are imported when first
 * shown (index.html preloads them all, in parallel): the first view starts with the session check.
 */
function pick(path) {
  if (path[0] === 'b' && path.length === 2) return ['objects', 'buckets'];
  if (path[0] === 'b' && path[2] === 'settings') return ['settings', 'buckets'];
  if (path[0] === 'o' && path.length === 2) return ['object', 'buckets'];
  if (['share', 'identity', 'why', 'audit'].includes(path[0])) return [path[0], path[0]];
  return ['buckets', 'buckets'];
}

function load(name) {
  return import(`./views/${name}.js`);
}

/** Parses `#/a/b?x=y` into decoded path segments and query parameters. */
export function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [pathPart, queryPart = ''] = raw.split(/\?(.*)/s);
  const path = pathPart.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return { path, query: new URLSearchParams(queryPart) };
}

async function route() {
  if (!session) return;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const { path, query } = parseHash(window.location.hash);
  const [name, section] = pick(path);
  for (const link of document.querySelectorAll('.sidebar a')) {
    link.classList.toggle('active', link.dataset.section === section);
  }
  const container = clear($('view'));
  // Notes about the last view go with it; errors stay until closed.
  for (const note of document.querySelectorAll('#notices .notice:not(.error)')) note.remove();
  const token = {};
  route.current = token;
  for (const mark of ['kura:route', 'kura:rendered', 'kura:painted']) performance.clearMarks(mark);
  performance.clearMeasures('kura:view');
  performance.mark('kura:route');
  try {
    const view = await load(name);
    if (route.current !== token) return;
    const done = await view.render(container, { path, query, session });
    if (route.current === token) cleanup = typeof done === 'function' ? done : null;
    else if (typeof done === 'function') done();
  } catch (e) {
    if (route.current === token) container.append(el('p', { class: 'error', role: 'alert', text: errorText(e) }));
  }
  // For scripts/bench-console: when a view is on screen, from the route's start and from navigation.
  if (route.current === token) {
    performance.measure('kura:view', 'kura:route');
    performance.mark('kura:rendered');
    // After the next frame is laid out and painted.
    requestAnimationFrame(() => setTimeout(() => performance.mark('kura:painted')));
  }
}

/**
 * The session JSON (principal, CSRF token, expiry: no secret) is kept in sessionStorage, so that a reload
 * draws the page at once and checks the session meanwhile; the cookie stays the proof.
 */
const STORED = 'kura-console-session';

function stored() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STORED) || 'null');
    return s && s.csrf && s.principal_arn && new Date(s.expires) > new Date() ? s : null;
  } catch {
    return null;
  }
}

function showSignedIn(s) {
  session = s;
  api.setSession(s);
  sessionStorage.setItem(STORED, JSON.stringify(s));
  $('sign-in').hidden = true;
  $('shell').hidden = false;
  $('whoami').hidden = false;
  $('principal').textContent = s.principal_arn;
  $('principal').title = `Access key ${s.access_key_id}; session until ${new Date(s.expires).toLocaleString()}`;
  if (!window.location.hash) window.location.hash = '#/buckets';
  else route();
}

function showSignedOut(message) {
  session = null;
  api.setSession(null);
  sessionStorage.removeItem(STORED);
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  clear($('view'));
  $('shell').hidden = true;
  $('whoami').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message || '';
  $('access-key').focus();
}

async function submitSignIn(event) {
  event.preventDefault();
  const button = $('sign-in-button');
  const secretInput = $('secret-key');
  button.disabled = true;
  $('sign-in-error').textContent = '';
  try {
    const s = await api.signIn($('access-key').value.trim(), secretInput.value);
    showSignedIn(s);
  } catch (e) {
    const wait = e.retryAfter ? ` Try again in ${e.retryAfter} s.` : '';
    $('sign-in-error').textContent = `${errorText(e)}${wait}`;
  } finally {
    // The secret does not stay in the page.
    secretInput.value = '';
    button.disabled = false;
  }
}

async function start() {
  $('sign-in-form').addEventListener('submit', submitSignIn);
  $('sign-out').addEventListener('click', async () => {
    await api.signOut().catch(() => {});
    showSignedOut('Signed out.');
  });
  api.onSignedOut(() => {
    if (session) showSignedOut('The session has ended: sign in again.');
  });
  window.addEventListener('hashchange', route);
  const known = stored();
  if (known) {
    // Drawn at once; the check below ends it if the cookie no longer holds.
    showSignedIn(known);
  } else {
    // The first view's module loads while the session is checked.
    load(pick(parseHash(window.location.hash).path)[0]).catch(() => {});
  }
  try {
    const s = await api.currentSession();
    if (!s) showSignedOut(known ? 'The session has ended: sign in again.' : '');
    else if (!known || known.csrf !== s.csrf) showSignedIn(s);
  } catch (e) {
    showSignedOut();
    notify(errorText(e), 'error');
  }
}

start();
