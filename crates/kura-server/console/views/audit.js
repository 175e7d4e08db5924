/**
 * views/audit.js: the audit viewer. The latest records of kura's in-memory audit ring (`/api/audit`),
 * filtered by principal, bucket, operation, status and auth type, and polled every 2 s for the records
 * after the newest one shown. Records hold no secret; each is shown as text. With the audit log off,
 * kura records only while a viewer watches, and the view says so.
 */

import { api, queryString } from '../api.js';
import { clear, el, errorText, formatDate, tableRow } from '../dom.js';

const POLL_MS = 2000;
const MAX_ROWS = 500;
const AUTH_TYPES = ['', 'header', 'presigned', 'post', 'anonymous', 'ticket', 'web-identity', 'pod-identity', 'console'];

function row(record) {
  const caller = record.caller || {};
  const who = caller.principal || caller.access_key || '';
  const what = [record.bucket, record.key].filter(Boolean).join('/');
  const status = record.error_code ? `${record.status} ${record.error_code}` : String(record.status);
  const details = el('tr', { class: 'audit-details', hidden: true },
    el('td', { colspan: 7 }, el('pre', { class: 'code', text: JSON.stringify(record, null, 2) })));
  const line = tableRow([
    formatDate(record.time), who, caller.auth_type || '', record.operation || '', what,
    { cell: status, attrs: { class: record.status >= 400 ? 'status-error' : 'status-ok' } },
    { cell: `${Number(record.duration_ms).toFixed(1)} ms`, attrs: { class: 'num' } },
  ], { class: 'audit-row', dataset: { operation: record.operation || '', status: String(record.status) } });
  line.addEventListener('click', () => {
    details.hidden = !details.hidden;
  });
  return [line, details];
}

/** Renders the view into `container`; returns the function that stops polling. */
export async function render(container) {
  const inputs = {
    principal: el('input', { id: 'audit-principal', 'aria-label': 'Principal', placeholder: 'principal or access key', spellcheck: 'false' }),
    bucket: el('input', { id: 'audit-bucket', 'aria-label': 'Bucket', placeholder: 'bucket', spellcheck: 'false' }),
    operation: el('input', { id: 'audit-operation', 'aria-label': 'Operation', placeholder: 'operation (PutObject, …)', spellcheck: 'false' }),
    status: el('input', { id: 'audit-status', 'aria-label': 'Status', placeholder: 'status (403, 4xx…)', spellcheck: 'false' }),
    auth: el('select', { id: 'audit-auth', 'aria-label': 'Auth type' }, AUTH_TYPES.map((a) => el('option', { value: a, text: a || 'any auth' }))),
  };
  const live = el('input', { type: 'checkbox', id: 'audit-live', checked: true });
  const state = el('span', { class: 'muted', id: 'audit-state' });
  const logOff = el('p', { class: 'muted', id: 'audit-log-off', hidden: true,
    text: 'The audit log is off on this server (the audit: section of its configuration): it keeps records in memory only while a viewer watches, so this view shows requests from the moment it was opened (up to 10 minutes after the last viewer closes).' });
  const body = el('tbody', { id: 'audit-body' });
  const records = el('table', { class: 'list audit', id: 'audit-table' },
    el('thead', {}, el('tr', {}, ['Time', 'Principal', 'Auth', 'Operation', 'Object', 'Status', 'Duration'].map((h) => el('th', { text: h })))),
    body);
  container.append(el('h1', { text: 'Audit log' }),
    el('form', { class: 'toolbar filters', id: 'audit-filters' }, Object.values(inputs),
      el('label', { class: 'check' }, live, 'Live'), state),
    logOff, el('section', { class: 'card' }, records));

  let last = null;
  let timer = null;
  let stopped = false;
  let generation = 0;

  const filters = () => {
    const query = {};
    for (const [name, input] of Object.entries(inputs)) if (input.value.trim()) query[name] = input.value.trim();
    return query;
  };
  const poll = async () => {
    const mine = generation;
    const query = filters();
    if (last !== null) query.after = last;
    query.limit = 200;
    try {
      const answer = await api('GET', `audit${queryString(query)}`);
      if (mine !== generation || stopped) return;
      if (answer.records.length) {
        const fragment = document.createDocumentFragment();
        for (const record of answer.records) fragment.append(...row(record));
        body.prepend(fragment);
        while (body.children.length > MAX_ROWS * 2) body.lastElementChild.remove();
      }
      if (answer.last !== undefined && answer.last !== null) last = answer.last;
      logOff.hidden = answer.log !== false;
      state.textContent = live.checked ? `Live: updated ${new Date().toLocaleTimeString()}` : 'Paused';
      state.className = 'muted';
    } catch (e) {
      if (mine !== generation || stopped) return;
      state.textContent = errorText(e);
      state.className = 'error';
    }
    if (!stopped && live.checked && mine === generation) timer = setTimeout(poll, POLL_MS);
  };
  const restart = () => {
    generation += 1;
    clearTimeout(timer);
    last = null;
    clear(body);
    poll();
  };
  for (const input of Object.values(inputs)) input.addEventListener('change', restart);
  container.querySelector('#audit-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    restart();
  });
  live.addEventListener('change', () => {
    clearTimeout(timer);
    generation += 1;
    if (live.checked) poll();
    else state.textContent = 'Paused';
  });

  await poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
