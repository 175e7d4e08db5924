/**
 * views/share.js: sharing. A presigned link (`/api/presign`: GET or PUT of one object, signed with the
 * user's own key, like `aws s3 presign`); an upload ticket (kura's ticket endpoint: a key or a prefix,
 * size and type limits, a lifetime; revocable); the live tickets this principal issued, with revoke
 * (the admin API's tickets endpoints).
 */

import { admin, api, ticket } from '../api.js';
import { arn, guard } from '../can.js';
import { busy, card, clear, confirmAction, copyText, el, errorText, formatDate, notify, table } from '../dom.js';

const LIFETIMES = [
  [300, '5 minutes'], [3600, '1 hour'], [86400, '1 day'], [604800, '7 days'],
];

function lifetimeSelect(id, max = 604800, chosen = 3600) {
  const select = el('select', { id },
    LIFETIMES.filter(([s]) => s <= max).map(([s, label]) => el('option', { value: s, text: label })));
  select.value = String(chosen);
  return select;
}

/** A read-only field with the URL (or JSON), and a Copy button. */
function result(id, value) {
  const field = value.includes('\n')
    ? el('textarea', { id, class: 'code', rows: 8, readonly: true })
    : el('input', { id, class: 'url', readonly: true });
  field.value = value;
  const copy = el('button', { type: 'button', class: 'secondary', text: 'Copy', onclick: () => copyText(value, field) });
  return el('div', { class: 'result' }, field, copy);
}

function labelled(label, control) {
  return el('label', {}, label, control);
}

/**
 * Keeps `button` disabled, with the reason, while the principal may not do what the form describes:
 * `check()` answers `{action, resource}` (or null when the form is not filled in yet), asked again 300 ms
 * after the last change of any of `inputs`.
 */
function guardForm(button, inputs, check) {
  let timer = null;
  const run = () => {
    const wanted = check();
    if (wanted) guard([{ element: button, ...wanted }]);
  };
  for (const input of inputs) {
    input.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(run, 300);
    });
    input.addEventListener('change', run);
  }
  run();
}

function presignCard(session, query) {
  const method = el('select', { id: 'link-method' }, el('option', { value: 'GET', text: 'GET (download)' }), el('option', { value: 'PUT', text: 'PUT (upload)' }));
  const bucket = el('input', { id: 'link-bucket', required: true, value: query.get('bucket') || '', spellcheck: 'false' });
  const key = el('input', { id: 'link-key', required: true, value: query.get('key') || '', spellcheck: 'false' });
  const lifetime = lifetimeSelect('link-lifetime');
  const make = el('button', { type: 'submit', id: 'make-link', text: 'Make link' });
  const out = el('div', { id: 'link-result' });
  const form = el('form', { class: 'stacked' },
    labelled('Method', method), labelled('Bucket', bucket), labelled('Key', key), labelled('Valid for', lifetime), make);
  guardForm(make, [method, bucket, key], () => (bucket.value.trim() && key.value
    ? { action: method.value === 'GET' ? 's3:GetObject' : 's3:PutObject', resource: arn(bucket.value.trim(), key.value) }
    : null));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(make, async () => {
      const { url } = await api('POST', 'presign', {
        method: method.value, bucket: bucket.value.trim(), key: key.value, expires_seconds: Number(lifetime.value),
      });
      clear(out).append(result('link-url', url),
        el('p', { class: 'muted', text: `Anyone with this link may ${method.value === 'GET' ? 'download' : 'upload'} ` +
          `${bucket.value}/${key.value} until ${new Date(Date.now() + Number(lifetime.value) * 1000).toLocaleString()}, ` +
          `as long as ${session.principal_arn} may. A link signed with your key cannot be revoked: use a ticket for that.` }));
    });
  });
  return card('Presigned link', form, out);
}

function ticketCard(query, onIssued) {
  const method = el('select', { id: 'ticket-method' },
    el('option', { value: 'POST', text: 'POST (browser form upload)' }), el('option', { value: 'PUT', text: 'PUT (upload one object)' }),
    el('option', { value: 'GET', text: 'GET (download one object)' }));
  const bucket = el('input', { id: 'ticket-bucket', required: true, value: query.get('bucket') || '', spellcheck: 'false' });
  const scope = el('select', { id: 'ticket-scope' }, el('option', { value: 'key', text: 'exactly this key' }), el('option', { value: 'prefix', text: 'any key under this prefix' }));
  const name = el('input', { id: 'ticket-key', required: true, value: query.get('key') || '', spellcheck: 'false' });
  const maxSize = el('input', { id: 'ticket-max-size', type: 'number', min: 1, placeholder: 'no limit' });
  const type = el('input', { id: 'ticket-content-type', placeholder: 'any', spellcheck: 'false' });
  const lifetime = lifetimeSelect('ticket-lifetime', 86400);
  const issue = el('button', { type: 'submit', id: 'issue-ticket', text: 'Issue ticket' });
  const out = el('div', { id: 'ticket-result' });
  const uploadOnly = [maxSize, type];
  const sync = () => {
    const get = method.value === 'GET';
    if (method.value !== 'POST') scope.value = 'key';
    scope.disabled = method.value !== 'POST';
    for (const input of uploadOnly) input.disabled = get;
  };
  method.addEventListener('change', sync);
  sync();
  const form = el('form', { class: 'stacked' },
    labelled('Method', method), labelled('Bucket', bucket), labelled('Scope', scope), labelled('Key or prefix', name),
    labelled('Largest size (bytes)', maxSize), labelled('Content-Type', type), labelled('Valid for', lifetime), issue);
  guardForm(issue, [method, bucket, scope, name], () => (bucket.value.trim() && (name.value || scope.value === 'prefix')
    ? {
      action: method.value === 'GET' ? 's3:GetObject' : 's3:PutObject',
      resource: arn(bucket.value.trim(), scope.value === 'prefix' ? `${name.value}*` : name.value),
    }
    : null));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(issue, async () => {
      const request = { method: method.value, bucket: bucket.value.trim(), expires_seconds: Number(lifetime.value) };
      request[scope.value === 'prefix' ? 'key_prefix' : 'key'] = name.value;
      if (method.value !== 'GET' && maxSize.value) request.max_size = Number(maxSize.value);
      if (method.value !== 'GET' && type.value.trim()) request.content_type = type.value.trim();
      const issued = await ticket(request);
      const shown = issued.fields ? JSON.stringify({ url: issued.url, fields: issued.fields }, null, 2) : issued.url;
      clear(out,
        el('p', { text: `Ticket ${issued.id}, valid until ${formatDate(issued.expires_at)}.` }),
        result('ticket-url', shown),
        issued.fields ? el('p', { class: 'muted', text: 'Send the fields, then the file as "file", as multipart/form-data (an HTML form or curl -F).' }) : null);
      notify(`Ticket ${issued.id} issued`);
      onIssued();
    });
  });
  return card('Upload ticket', el('p', { class: 'muted', text: 'A ticket is signed with a key of its own: it can be revoked at any time, and never allows more than you may do at the moment it is used.' }), form, out);
}

function ticketList(session) {
  const body = el('div', { id: 'tickets' });
  const refreshButton = el('button', { type: 'button', class: 'secondary', text: 'Refresh' });
  const element = card('Your live tickets', body, el('div', { class: 'actions' }, refreshButton));
  const refresh = async () => {
    try {
      const { tickets } = await admin('GET', 'tickets');
      const mine = tickets.filter((t) => t.principal === session.principal_arn);
      clear(body);
      if (!mine.length) {
        body.append(el('p', { class: 'muted', text: 'You hold no live tickets.' }));
        return;
      }
      const revokes = [];
      const rows = mine.sort((a, b) => b.created - a.created).map((t) => {
        const revoke = el('button', { type: 'button', class: 'danger small', text: 'Revoke', dataset: { ticket: t.id } });
        revoke.addEventListener('click', async () => {
          if (!await confirmAction(`Revoke ticket ${t.id}?`, 'Its URL stops working at once, on every replica.', 'Revoke')) return;
          await busy(revoke, async () => {
            await admin('POST', 'tickets/revoke', { id: t.id });
            notify(`Ticket ${t.id} revoked`);
            await refresh();
          });
        });
        revokes.push(revoke);
        const limits = [t.max_size ? `≤ ${t.max_size} bytes` : '', t.content_type || ''].filter(Boolean).join(', ');
        return [el('code', { text: t.id }), t.method, `${t.bucket}/${t.key ?? `${t.key_prefix}*`}`, limits,
          formatDate(new Date(t.expires * 1000).toISOString()), revoke];
      });
      body.append(table(['Ticket', 'Method', 'Object', 'Limits', 'Expires', ''], rows, { class: 'list', id: 'tickets-table' }));
      guard([{ element: revokes, action: 'kura:RevokeTickets', resource: '*' }]);
    } catch (e) {
      clear(body).append(el('p', { class: 'error', text: errorText(e) }));
    }
  };
  refreshButton.addEventListener('click', refresh);
  return { element, refresh };
}

/** Renders the view into `container`. */
export async function render(container, { query, session }) {
  const list = ticketList(session);
  container.append(el('h1', { text: 'Sharing' }),
    el('div', { class: 'grid' }, presignCard(session, query), ticketCard(query, list.refresh)), list.element);
  await list.refresh();
}
