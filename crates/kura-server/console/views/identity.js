/**
 * views/identity.js: users and named policies through the admin API (create, edit a policy with JSON
 * checked as it is typed and the error's line shown, attach and detach, enable, delete), and the roles,
 * OIDC providers, pod-identity and web-identity associations of the configuration file (`/api/identity`),
 * read-only. Users and policies from the configuration file or built in are read-only too, and say so.
 */

import { admin, api, seg } from '../api.js';
import { guard, iamArn } from '../can.js';
import { busy, card, clear, confirmAction, copyText, el, errorText, notify, table } from '../dom.js';
import { editor } from '../editor.js';

const ORIGINS = { config: 'from the configuration file', builtin: 'built in', admin: 'created here' };

const NEW_POLICY = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:ListBucket"],
      "Resource": ["arn:aws:s3:::example", "arn:aws:s3:::example/*"]
    }
  ]
}`;

function origin(o) {
  return el('span', { class: `badge ${o}`, text: ORIGINS[o] || o });
}

/** Disables `elements` of something the admin API cannot change, saying why. */
function readOnly(elements, o) {
  if (o === 'admin') return;
  for (const e of elements) {
    e.disabled = true;
    e.title = o === 'config' ? 'Defined in the configuration file: change it there' : 'Built into kura: it cannot be changed';
  }
}

function usersCard(state) {
  const body = el('div', { id: 'users' });
  const name = el('input', { id: 'new-user', 'aria-label': 'New user name', placeholder: 'user name (its access key)', required: true, spellcheck: 'false' });
  const create = el('button', { type: 'submit', id: 'create-user', text: 'Create user' });
  const secret = el('div', { id: 'new-user-secret' });
  const form = el('form', { class: 'inline-form' }, name, create);
  guard([{ element: create, action: 'kura:CreateUser', resource: iamArn('user', '*') }]);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(create, async () => {
      const user = await admin('PUT', `users/${seg(name.value.trim())}`, {});
      name.value = '';
      clear(secret);
      if (user.secret_key) {
        const field = el('input', { class: 'url', readonly: true, value: user.secret_key });
        secret.append(el('p', { class: 'warning', text: `The secret key of ${user.access_key}: shown once, copy it now.` }),
          el('div', { class: 'result' }, field, el('button', { type: 'button', class: 'secondary', text: 'Copy', onclick: () => copyText(user.secret_key, field) })));
      }
      await state.refresh();
    });
  });

  const render = (users, policies) => {
    clear(body);
    const guards = [];
    const rows = users.map((u) => {
      const arn = iamArn('user', u.access_key);
      const toggle = el('button', { type: 'button', class: 'secondary small', text: u.enabled ? 'Disable' : 'Enable' });
      const remove = el('button', { type: 'button', class: 'danger small', text: 'Delete' });
      const pick = el('select', { class: 'small', 'aria-label': `Policy to attach to ${u.access_key}` }, el('option', { value: '', text: 'attach a policy…' }),
        policies.filter((p) => !u.policies.includes(p.name)).map((p) => el('option', { value: p.name, text: p.name })));
      const attach = el('button', { type: 'button', class: 'secondary small', text: 'Attach' });
      const attached = u.policies.map((p) => {
        const detach = el('button', { type: 'button', class: 'chip-x', text: '×', 'aria-label': `Detach ${p}` });
        detach.addEventListener('click', () => busy(detach, async () => {
          await admin('DELETE', `users/${seg(u.access_key)}/policies/${seg(p)}`);
          notify(`Detached ${p} from ${u.access_key}`);
          await state.refresh();
        }));
        guards.push({ element: detach, action: 'kura:DetachUserPolicy', resource: arn });
        readOnly([detach], u.origin);
        return el('span', { class: 'chip' }, p, detach);
      });
      toggle.addEventListener('click', () => busy(toggle, async () => {
        await admin('PUT', `users/${seg(u.access_key)}`, { enabled: !u.enabled });
        await state.refresh();
      }));
      remove.addEventListener('click', async () => {
        if (!await confirmAction(`Delete user ${u.access_key}?`, 'Its key stops working at once; its console sessions end.')) return;
        await busy(remove, async () => {
          await admin('DELETE', `users/${seg(u.access_key)}`);
          notify(`User ${u.access_key} deleted`);
          await state.refresh();
        });
      });
      attach.addEventListener('click', () => {
        if (!pick.value) return;
        busy(attach, async () => {
          await admin('PUT', `users/${seg(u.access_key)}/policies/${seg(pick.value)}`);
          notify(`Attached ${pick.value} to ${u.access_key}`);
          await state.refresh();
        });
      });
      guards.push({ element: toggle, action: 'kura:CreateUser', resource: arn },
        { element: remove, action: 'kura:DeleteUser', resource: arn },
        { element: attach, action: 'kura:AttachUserPolicy', resource: arn });
      readOnly([toggle, remove, attach, pick], u.origin);
      return [el('code', { text: u.access_key }), u.enabled ? 'enabled' : 'disabled', origin(u.origin),
        el('span', { class: 'chips' }, attached), el('span', { class: 'row-actions' }, pick, attach, toggle, remove)];
    });
    body.append(rows.length ? table(['User', 'State', 'Origin', 'Policies', ''], rows, { class: 'list', id: 'users-table' })
      : el('p', { class: 'muted', text: 'No users.' }));
    guard(guards.filter((g) => !g.element.disabled));
  };
  return { element: card('Users', form, secret, body), render, body };
}

function policiesCard(state) {
  const list = el('div', { id: 'policies' });
  const pane = el('div', { id: 'policy-pane' });
  const newButton = el('button', { type: 'button', id: 'new-policy', class: 'secondary', text: 'New policy' });
  guard([{ element: newButton, action: 'kura:CreatePolicy', resource: iamArn('policy', '*') }]);

  const open = async (name, o) => {
    const isNew = name === null;
    let text = NEW_POLICY;
    if (!isNew) {
      const answer = await admin('GET', `policies/${seg(name)}`);
      text = JSON.stringify(answer.policy, null, 2);
    }
    const nameInput = el('input', { id: 'policy-name', 'aria-label': 'Policy name', placeholder: 'policy name', value: name || '', readonly: !isNew || null, spellcheck: 'false' });
    const edit = editor('json', { id: 'policy-text', text, readOnly: o !== 'admin', rows: 14 });
    const save = el('button', { type: 'button', id: 'save-policy', text: 'Save policy' });
    const remove = el('button', { type: 'button', class: 'danger', text: 'Delete policy' });
    save.addEventListener('click', () => {
      if (!edit.check()) return;
      const target = nameInput.value.trim();
      busy(save, async () => {
        try {
          await admin('PUT', `policies/${seg(target)}`, edit.value());
        } catch (e) {
          edit.showError(errorText(e)); // shown by the editor, not again as a notice
          return;
        }
        notify(`Policy ${target} saved`);
        await state.refresh();
        await open(target, 'admin');
      });
    });
    remove.addEventListener('click', async () => {
      if (!await confirmAction(`Delete policy ${name}?`, 'Users it is attached to lose what it allowed.')) return;
      await busy(remove, async () => {
        await admin('DELETE', `policies/${seg(name)}`);
        notify(`Policy ${name} deleted`);
        clear(pane);
        await state.refresh();
      });
    });
    const target = iamArn('policy', name || '*');
    guard([{ element: save, action: 'kura:CreatePolicy', resource: target }, { element: remove, action: 'kura:DeletePolicy', resource: target }]);
    readOnly([save, remove], o);
    clear(pane).append(el('h3', {}, isNew ? 'New policy' : `Policy ${name} `, isNew ? null : origin(o)),
      nameInput, edit.element, el('div', { class: 'actions' }, save, isNew ? null : remove));
    edit.check();
  };
  newButton.addEventListener('click', () => open(null, 'admin'));

  const render = (policies) => {
    clear(list);
    const rows = policies.map((p) => [
      el('button', { type: 'button', class: 'link', text: p.name, dataset: { policy: p.name },
        onclick: () => open(p.name, p.origin).catch((e) => notify(errorText(e), 'error')) }),
      origin(p.origin),
    ]);
    list.append(table(['Policy', 'Origin'], rows, { class: 'list', id: 'policies-table' }));
  };
  return { element: card('Named policies', el('div', { class: 'split' }, el('div', {}, list, newButton), pane)), render, open };
}

function configCard(identity) {
  const section = (title, items, columns) => {
    if (!items || !items.length) return el('div', {}, el('h3', { text: title }), el('p', { class: 'muted', text: 'None configured.' }));
    const rows = items.map((item) => [
      ...columns.map((c) => el('span', { text: Array.isArray(item[c]) ? item[c].join(', ') : (item[c] ?? '') })),
      el('details', {}, el('summary', { text: 'all' }), el('pre', { class: 'code', text: JSON.stringify(item, null, 2) })),
    ]);
    return el('div', {}, el('h3', { text: title }), table([...columns, ''], rows, { class: 'list' }));
  };
  return card('Roles and workload identity',
    el('p', {}, origin('config'), ' Read-only here: edit kura.yaml and reload to change them.'),
    section('Roles', identity.roles, ['name', 'arn', 'policies']),
    section('OIDC providers', identity.oidc_providers, ['issuer', 'audiences']),
    section('Pod-identity associations', identity.pod_identity_associations, ['issuer', 'namespace', 'service_account', 'role']),
    identity.pod_identity_audience ? el('p', { class: 'muted', text: `Pod-identity tokens must be for the audience ${identity.pod_identity_audience}.` }) : null,
    section('Web-identity associations', identity.web_identity_associations, ['namespace', 'service_account', 'role']));
}

/** Renders the view into `container`. */
export async function render(container) {
  const state = {};
  const users = usersCard(state);
  const policies = policiesCard(state);
  const config = el('div', { id: 'config-identity' }, card('Roles and workload identity', el('p', { class: 'muted', text: 'Loading…' })));
  state.refresh = async () => {
    const [u, p] = await Promise.allSettled([admin('GET', 'users'), admin('GET', 'policies')]);
    const policyList = p.status === 'fulfilled' ? p.value.policies : [];
    if (u.status === 'fulfilled') users.render(u.value.users, policyList);
    else clear(users.body).append(el('p', { class: 'error', text: errorText(u.reason) }));
    if (p.status === 'fulfilled') policies.render(policyList);
    else notify(errorText(p.reason), 'error');
  };
  container.append(el('h1', { text: 'Identity' }), users.element, policies.element, config);
  await state.refresh();
  try {
    clear(config).append(configCard(await api('GET', 'identity')));
  } catch (e) {
    clear(config).append(card('Roles and workload identity', el('p', { class: 'error', text: errorText(e) })));
  }
}
