/**
 * api.js: every request the console makes to kura. The session cookie (HttpOnly) goes by itself; this
 * module adds the session's CSRF token to each call and turns kura's answers into values or errors:
 * JSON `{code, message}` from the console and admin APIs, S3's XML `<Error>` from the S3 API.
 * S3 calls go through `/kura/console/s3/`, admin calls through `/kura/console/admin/`: the server
 * signs them as the signed-in principal, so they are authorised exactly like the user's own requests.
 */

export const BASE = '/kura/console';

/** An answer kura refused: HTTP status, error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || `HTTP${status}`;
  }
}

let csrf = null;
const signedOutListeners = [];

/** Remembers the session's CSRF token (from the session JSON); `null` forgets it. */
export function setSession(session) {
  csrf = session ? session.csrf : null;
}

/** Calls `listener` when kura says the session is over (401 NotSignedIn). */
export function onSignedOut(listener) {
  signedOutListeners.push(listener);
}

/** Percent-encodes a string as RFC 3986 requires (encodeURIComponent leaves !'()* alone). */
export function encodeStrict(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The path of an object (or bucket, when `key` is empty) under the S3 proxy; `/` in keys stays. */
export function s3Path(bucket, key = '') {
  const encodedKey = key.split('/').map(encodeStrict).join('/');
  return `${BASE}/s3/${encodeStrict(bucket)}${key ? `/${encodedKey}` : ''}`;
}

/** A query string from an object; a `null` value gives a bare name (`?tagging`). */
export function queryString(query = {}) {
  const parts = [];
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    parts.push(value === null ? encodeStrict(name) : `${encodeStrict(name)}=${encodeStrict(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Reads the error out of a failed answer (JSON, S3 XML, or plain text). */
export async function errorOf(response) {
  const text = await response.text().catch(() => '');
  return errorFromText(response.status, response.headers.get('Content-Type') || '', text);
}

/** Builds an ApiError from an answer's status, content type and body. */
export function errorFromText(status, contentType, text) {
  if (contentType.includes('json')) {
    try {
      const body = JSON.parse(text);
      return new ApiError(status, body.code, body.message);
    } catch {
      /* not JSON after all: fall through */
    }
  }
  if (text.trimStart().startsWith('<')) {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    const code = doc.querySelector('Error > Code');
    const message = doc.querySelector('Error > Message');
    if (code) return new ApiError(status, code.textContent, message ? message.textContent : '');
  }
  const names = { 401: 'NotSignedIn', 403: 'AccessDenied', 404: 'NotFound', 429: 'SlowDown' };
  return new ApiError(status, names[status] || `HTTP${status}`, text.slice(0, 300));
}

/** The headers every console call carries. */
export function baseHeaders(extra = {}) {
  const headers = { ...extra };
  if (csrf) headers['X-Kura-Csrf'] = csrf;
  return headers;
}

function signedOut(error) {
  if (error.status === 401) for (const listener of signedOutListeners) listener(error);
  return error;
}

/** Sends a request; resolves with the Response when it is a success (2xx), throws ApiError otherwise. */
export async function send(method, url, { body, headers = {}, signal } = {}) {
  const response = await fetch(url, {
    method,
    body,
    headers: baseHeaders(headers),
    credentials: 'same-origin',
    signal,
  });
  if (!response.ok) throw signedOut(await errorOf(response));
  return response;
}

/** A console API call (`/kura/console/api/...`) with a JSON body; resolves with the JSON answer. */
export async function api(method, path, body) {
  const init = body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
  const response = await send(method, `${BASE}/api/${path}`, init);
  return response.status === 204 ? null : response.json();
}

/** An admin API call (`/kura/admin/v1/<path>` through the console); resolves with JSON, text or null. */
export async function admin(method, path, body) {
  let init = {};
  if (typeof body === 'string') init = { body, headers: { 'Content-Type': 'application/json' } };
  else if (body !== undefined) init = { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
  const response = await send(method, `${BASE}/admin/${path}`, init);
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/** Encodes one admin path segment (a user, policy or bucket name). */
export function seg(name) {
  return encodeStrict(name);
}

/** Issues an upload ticket (kura's `/kura/v1/presign`, as the signed-in principal). */
export async function ticket(request) {
  const response = await send('POST', `${BASE}/tickets`, {
    body: JSON.stringify(request),
    headers: { 'Content-Type': 'application/json' },
  });
  return response.json();
}

/** The session of this browser, or null when not signed in. */
export async function currentSession() {
  const response = await fetch(`${BASE}/api/session`, { credentials: 'same-origin' });
  if (response.status === 401) return null;
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/** Exchanges keys for a session; throws ApiError (with `retryAfter` seconds on 429). */
export async function signIn(accessKeyId, secretAccessKey) {
  const response = await fetch(`${BASE}/api/session`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ access_key_id: accessKeyId, secret_access_key: secretAccessKey }),
  });
  if (!response.ok) {
    const error = await errorOf(response);
    error.retryAfter = Number(response.headers.get('Retry-After')) || null;
    throw error;
  }
  return response.json();
}

/** Ends the session (cookie and server record). */
export async function signOut() {
  await fetch(`${BASE}/api/session`, { method: 'DELETE', credentials: 'same-origin', headers: baseHeaders() });
  setSession(null);
}
