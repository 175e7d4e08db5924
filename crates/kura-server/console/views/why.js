/**
 * views/why.js: "why was this denied?": a principal, an action, a resource and condition context in;
 * kura's policy simulation (admin API `simulate`, the same evaluation that serves requests) out: the
 * decision, the statement that decided it, and kura's explanation.
 */

import { admin } from '../api.js';
import { guard } from '../can.js';
import { busy, card, clear, el } from '../dom.js';

const ACTIONS = [
  's3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket', 's3:ListAllMyBuckets', 's3:CreateBucket',
  's3:DeleteBucket', 's3:GetObjectTagging', 's3:PutObjectTagging', 's3:ListBucketVersions', 's3:PutBucketPolicy',
  's3:PutBucketVersioning', 's3:PutBucketCORS', 's3:PutLifecycleConfiguration', 'kura:CreateUser', 'kura:ReadAudit',
];

/** Parses "key=value" lines into the simulation's context (a key given twice gets a list). */
export function parseContext(text) {
  const context = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new Error(`context line "${line}": write key=value`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key in context) context[key] = [].concat(context[key], value);
    else context[key] = value;
  }
  return context;
}

function answerView(answer) {
  const labels = { allow: 'Allowed', 'explicit-deny': 'Denied by an explicit Deny', 'implicit-deny': 'Denied: nothing allows it' };
  const statement = answer.statement
    ? el('p', {}, 'Deciding statement: ', el('code', { text: `${answer.statement.policy} Statement[${answer.statement.index}]` }),
      answer.statement.sid ? el('span', { text: ` (Sid "${answer.statement.sid}")` }) : null)
    : el('p', { class: 'muted', text: 'No statement matched.' });
  return el('div', { class: `decision ${answer.decision}`, id: 'why-answer', dataset: { decision: answer.decision } },
    el('h3', { text: labels[answer.decision] || answer.decision }), statement,
    el('p', { class: 'explanation', text: answer.explanation }));
}

/** Renders the view into `container`. */
export async function render(container, { query, session }) {
  const principal = el('input', { id: 'why-principal', list: 'why-principals', required: true, spellcheck: 'false',
    value: query.get('principal') || session.access_key_id, placeholder: 'root, anonymous, a user or its ARN' });
  const principals = el('datalist', { id: 'why-principals' }, el('option', { value: 'root' }), el('option', { value: 'anonymous' }));
  const action = el('input', { id: 'why-action', list: 'why-actions', required: true, spellcheck: 'false', value: query.get('action') || 's3:GetObject' });
  const actions = el('datalist', { id: 'why-actions' }, ACTIONS.map((a) => el('option', { value: a })));
  const resource = el('input', { id: 'why-resource', required: true, spellcheck: 'false', value: query.get('resource') || 'arn:aws:s3:::bucket/key' });
  const context = el('textarea', { id: 'why-context', class: 'code', rows: 3, spellcheck: 'false',
    placeholder: 'aws:SourceIp=10.0.0.1\ns3:prefix=home/' });
  const run = el('button', { type: 'submit', id: 'why-run', text: 'Explain' });
  const out = el('div', { id: 'why-result' });
  const form = el('form', { class: 'stacked' },
    el('label', {}, 'Principal', principal, principals), el('label', {}, 'Action', action, actions),
    el('label', {}, 'Resource', resource), el('label', {}, 'Context (one key=value a line)', context), run);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(run, async () => {
      const answer = await admin('POST', 'simulate', {
        principal: principal.value.trim(), action: action.value.trim(), resource: resource.value.trim(),
        context: parseContext(context.value),
      });
      clear(out).append(answerView(answer));
    });
  });
  guard([{ element: run, action: 'kura:SimulatePolicy', resource: '*' }]);
  admin('GET', 'users').then(({ users }) => {
    for (const u of users) principals.append(el('option', { value: u.access_key }));
  }).catch(() => {});
  container.append(el('h1', { text: 'Why was this denied?' }),
    card(null, el('p', { class: 'muted', text: 'Evaluates a request against the identity policies and the bucket policy as kura does when serving it, and names the statement that decides.' }), form, out));
}
