/**
 * can.js: asks kura (`/api/can`) what the signed-in principal may do, and disables the buttons it may not
 * use, with kura's reason in the button's title. This is only a courtesy to the user: every request is
 * still authorised by the server, so a button enabled by mistake gets an AccessDenied, never more.
 */

import { api } from './api.js';

/** kura answers at most this many checks per call. */
const MAX_CHECKS = 50;

/** The ARN of a bucket, or of objects in it (`key` may end with `*`). */
export function arn(bucket, key) {
  return key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
}

/** The ARN of a user or named policy of kura's one account. */
export function iamArn(kind, name) {
  return `arn:aws:iam::000000000000:${kind}/${name}`;
}

/** Asks about `checks` (`[{action, resource}]`); resolves with `[{allowed, reason}]` in the same order. */
export async function can(checks) {
  const results = [];
  for (let i = 0; i < checks.length; i += MAX_CHECKS) {
    const batch = checks.slice(i, i + MAX_CHECKS).map(({ action, resource }) => ({ action, resource }));
    const answer = await api('POST', 'can', { checks: batch });
    results.push(...answer.results);
  }
  return results;
}

/**
 * Disables each guarded element the principal may not use. `guards` is `[{element(s), action,
 * resource}]`; elements may be null (skipped). Identical checks are asked once. When kura cannot be asked,
 * the buttons stay as they are (the server refuses what it must anyway).
 */
export async function guard(guards) {
  const keyed = new Map();
  for (const g of guards) {
    const key = `${g.action} ${g.resource}`;
    if (!keyed.has(key)) keyed.set(key, { action: g.action, resource: g.resource, elements: [] });
    const elements = Array.isArray(g.element) ? g.element : [g.element];
    keyed.get(key).elements.push(...elements.filter(Boolean));
  }
  const checks = Array.from(keyed.values());
  if (!checks.length) return;
  let results;
  try {
    results = await can(checks);
  } catch {
    return;
  }
  checks.forEach((check, i) => {
    const result = results[i];
    for (const element of check.elements) setAllowed(element, result.allowed, result.reason, check.action);
  });
}

/** Enables or disables one element; a disabled one says why (and which permission) in its title. */
export function setAllowed(element, allowed, reason, action) {
  if (allowed) {
    if (element.dataset.denied !== undefined) {
      element.disabled = false;
      element.removeAttribute('title');
      delete element.dataset.denied;
    }
    return;
  }
  element.disabled = true;
  element.dataset.denied = action;
  element.title = reason ? `${action}: ${reason}` : `You may not use ${action} here`;
}
