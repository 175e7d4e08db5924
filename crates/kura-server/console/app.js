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
import * as buckets from './views/buckets.js';
import * as objects from './views/objects.js';
import * as object from './views/object.js';
import * as settings from './views/settings.js';
import * as share from './views/share.js';
import * as identity from './views/identity.js';
import * as why from './views/why.js';
import * as audit from './views/audit.js';

const $ = (id) => document.getElementById(id);

let session = null;
let cleanup = null;

/** The view for a parsed hash, and the nav section it belongs to. */
function pick(path) {
  if (path[0] === 'b' && path.length === 2) return [objects, 'buckets'];
  if (path[0] === 'b' && path[2] === 'settings') return [settings, 'buckets'];
  if (path[0] === 'o' && path.length === 2) return [object, 'buckets'];
  const sections = { share, identity, why, audit };
  if (sections[path[0]]) return [sections[path[0]], path[0]];
  return [buckets, 'buckets'];
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
  const [view, section] = pick(path);
  for (const link of document.querySelectorAll('.sidebar a')) {
    link.classList.toggle('active', link.dataset.section === section);
  }
  const container = clear($('view'));
  const token = {};
  route.current = token;
  performance.mark('kura:route');
  try {
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
  }
}

function showSignedIn(s) {
  session = s;
  api.setSession(s);
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
  try {
    const s = await api.currentSession();
    if (s) showSignedIn(s);
    else showSignedOut();
  } catch (e) {
    showSignedOut();
    notify(errorText(e), 'error');
  }
}

start();
