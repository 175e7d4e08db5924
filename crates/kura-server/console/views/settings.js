/**
 * views/settings.js: a bucket's settings, each in its own card that loads and saves by itself:
 * versioning, default encryption, CORS and lifecycle through S3's XML API; anonymous access mode, public
 * access block and bucket policy through kura's admin API.
 */

import { admin, seg } from '../api.js';
import { arn, guard } from '../can.js';
import { busy, card, clear, confirmAction, el, errorText, notify } from '../dom.js';
import { editor, prettyJson } from '../editor.js';
import {
  deleteSubresource, getSubresource, getVersioning, putSubresource, putVersioning, text, xmlEscape,
} from '../s3.js';

const CORS_EXAMPLE = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>https://app.example.com</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;

const LIFECYCLE_EXAMPLE = `<LifecycleConfiguration>
  <Rule>
    <ID>expire-tmp</ID>
    <Filter><Prefix>tmp/</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>7</Days></Expiration>
  </Rule>
</LifecycleConfiguration>`;

/** A card whose body `load()` fills; a failure to load is shown in place. */
function section(title, id, load) {
  const body = el('div', {}, el('p', { class: 'muted', text: 'Loading…' }));
  const element = card(title, body);
  element.id = id;
  const refresh = async () => {
    try {
      const content = await load(refresh);
      clear(body).append(content);
    } catch (e) {
      clear(body).append(el('p', { class: 'error', text: errorText(e) }));
    }
  };
  return { element, refresh };
}

function versioning(bucket) {
  return section('Versioning', 'versioning', async (refresh) => {
    const status = await getVersioning(bucket);
    const select = el('select', { id: 'versioning-status', 'aria-label': 'Versioning' },
      el('option', { value: 'Enabled', text: 'Enabled' }), el('option', { value: 'Suspended', text: 'Suspended' }));
    select.value = status === 'Enabled' ? 'Enabled' : 'Suspended';
    const save = el('button', { type: 'button', text: 'Save' });
    save.addEventListener('click', () => busy(save, async () => {
      await putVersioning(bucket, select.value);
      notify(`Versioning ${select.value.toLowerCase()}`);
      await refresh();
    }));
    guard([{ element: save, action: 's3:PutBucketVersioning', resource: arn(bucket) }]);
    return el('div', {},
      el('p', { text: status ? `Versioning is ${status.toLowerCase()}.` : 'Versioning was never enabled on this bucket.' }),
      el('div', { class: 'inline-form' }, select, save));
  });
}

function encryption(bucket) {
  return section('Default encryption', 'encryption', async (refresh) => {
    const xml = await getSubresource(bucket, 'encryption');
    const doc = new DOMParser().parseFromString(xml || '<none/>', 'application/xml');
    const algorithm = text(doc, 'SSEAlgorithm');
    const keyId = text(doc, 'KMSMasterKeyID');
    const select = el('select', { id: 'encryption-algorithm', 'aria-label': 'Default encryption' },
      el('option', { value: 'AES256', text: 'SSE-S3 (AES256, keys managed by kura)' }),
      el('option', { value: 'aws:kms', text: 'SSE-KMS (a key of the key service)' }));
    select.value = algorithm === 'aws:kms' ? 'aws:kms' : 'AES256';
    const key = el('input', { id: 'encryption-key', 'aria-label': 'KMS key', placeholder: 'KMS key id or ARN (empty: the default key)', value: keyId, spellcheck: 'false' });
    const save = el('button', { type: 'button', text: 'Save' });
    const remove = el('button', { type: 'button', class: 'danger', text: 'Remove' });
    save.addEventListener('click', () => busy(save, async () => {
      const kms = select.value === 'aws:kms' && key.value.trim() ? `<KMSMasterKeyID>${xmlEscape(key.value.trim())}</KMSMasterKeyID>` : '';
      await putSubresource(bucket, 'encryption', '<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>' +
        `<SSEAlgorithm>${xmlEscape(select.value)}</SSEAlgorithm>${kms}</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`);
      notify('Default encryption saved');
      await refresh();
    }));
    remove.addEventListener('click', () => busy(remove, async () => {
      await deleteSubresource(bucket, 'encryption');
      notify('Default encryption removed');
      await refresh();
    }));
    guard([{ element: [save, remove], action: 's3:PutEncryptionConfiguration', resource: arn(bucket) }]);
    return el('div', {},
      el('p', { text: algorithm ? `New objects are encrypted with ${algorithm}${keyId ? ` (key ${keyId})` : ''}.` : 'No default encryption is set.' }),
      el('div', { class: 'inline-form' }, select, key, save, algorithm ? remove : null));
  });
}

function anonymous(bucket) {
  return section('Anonymous access', 'anonymous', async (refresh) => {
    const { mode } = await admin('GET', `buckets/${seg(bucket)}/anonymous`);
    const select = el('select', { id: 'anonymous-mode', 'aria-label': 'Anonymous access mode' },
      ['none', 'download', 'upload', 'public'].map((m) => el('option', { value: m, text: m })));
    select.value = mode === 'custom' ? 'none' : mode;
    const save = el('button', { type: 'button', text: 'Save' });
    save.addEventListener('click', () => busy(save, async () => {
      if (mode === 'custom' && !await confirmAction('Replace the bucket policy?',
        'This bucket has a custom bucket policy: setting an anonymous mode replaces it.', 'Replace')) return;
      await admin('PUT', `buckets/${seg(bucket)}/anonymous`, { mode: select.value });
      notify(`Anonymous access: ${select.value}`);
      await refresh();
    }));
    guard([{ element: save, action: 's3:PutBucketPolicy', resource: arn(bucket) }]);
    const said = mode === 'custom' ? 'The bucket policy is custom (not one of the modes).' : `Anonymous access: ${mode}.`;
    return el('div', {}, el('p', { text: said }),
      el('p', { class: 'muted', text: 'none: signed requests only; download: anyone may read; upload: anyone may write; public: both.' }),
      el('div', { class: 'inline-form' }, select, save));
  });
}

function publicAccessBlock(bucket) {
  const switches = [
    ['block_public_acls', 'Block public ACLs'],
    ['ignore_public_acls', 'Ignore public ACLs'],
    ['block_public_policy', 'Block public bucket policies'],
    ['restrict_public_buckets', 'Restrict public buckets (no anonymous access through a public policy)'],
  ];
  return section('Public access block', 'public-access-block', async (refresh) => {
    const answer = await admin('GET', `buckets/${seg(bucket)}/public-access-block`);
    const block = answer.public_access_block || {};
    const boxes = switches.map(([name, label]) => {
      const box = el('input', { type: 'checkbox', name, checked: Boolean(block[name]) });
      return el('label', { class: 'check' }, box, label);
    });
    const save = el('button', { type: 'button', text: 'Save' });
    const remove = el('button', { type: 'button', class: 'danger', text: 'Remove' });
    save.addEventListener('click', () => busy(save, async () => {
      const body = Object.fromEntries(boxes.map((b) => [b.firstChild.name, b.firstChild.checked]));
      await admin('PUT', `buckets/${seg(bucket)}/public-access-block`, body);
      notify('Public access block saved');
      await refresh();
    }));
    remove.addEventListener('click', () => busy(remove, async () => {
      await admin('DELETE', `buckets/${seg(bucket)}/public-access-block`);
      notify('Public access block removed');
      await refresh();
    }));
    guard([{ element: [save, remove], action: 's3:PutBucketPublicAccessBlock', resource: arn(bucket) }]);
    return el('div', {}, el('p', { text: answer.public_access_block ? 'Set on this bucket:' : 'Not set on this bucket.' }),
      el('div', { class: 'checks' }, boxes), el('div', { class: 'actions' }, save, answer.public_access_block ? remove : null));
  });
}

function policy(bucket) {
  return section('Bucket policy', 'bucket-policy', async (refresh) => {
    let current = '';
    try {
      current = await admin('GET', `buckets/${seg(bucket)}/policy`);
    } catch (e) {
      if (e.code !== 'NoSuchBucketPolicy') throw e;
    }
    const edit = editor('json', { id: 'bucket-policy-text', text: prettyJson(current) });
    const save = el('button', { type: 'button', text: 'Save policy' });
    const remove = el('button', { type: 'button', class: 'danger', text: 'Delete policy' });
    save.addEventListener('click', () => {
      if (!edit.check()) return undefined;
      return busy(save, async () => {
        try {
          await admin('PUT', `buckets/${seg(bucket)}/policy`, edit.value());
        } catch (e) {
          edit.showError(errorText(e)); // shown by the editor, not again as a notice
          return;
        }
        notify('Bucket policy saved');
        await refresh();
      });
    });
    remove.addEventListener('click', async () => {
      if (!await confirmAction('Delete the bucket policy?', `The policy of ${bucket} is deleted.`)) return;
      await busy(remove, async () => {
        await admin('DELETE', `buckets/${seg(bucket)}/policy`);
        notify('Bucket policy deleted');
        await refresh();
      });
    });
    guard([
      { element: save, action: 's3:PutBucketPolicy', resource: arn(bucket) },
      { element: remove, action: 's3:DeleteBucketPolicy', resource: arn(bucket) },
    ]);
    return el('div', {}, current ? null : el('p', { class: 'muted', text: 'No bucket policy.' }), edit.element,
      el('div', { class: 'actions' }, save, current ? remove : null));
  });
}

/** CORS and lifecycle: an XML document of the bucket, edited as text. */
function xmlSetting(bucket, { title, id, name, action, example }) {
  return section(title, id, async (refresh) => {
    const current = await getSubresource(bucket, name);
    const edit = editor('xml', { id: `${id}-text`, text: current || '' });
    if (!current) edit.textarea.placeholder = example;
    const save = el('button', { type: 'button', text: 'Save' });
    const remove = el('button', { type: 'button', class: 'danger', text: 'Delete' });
    save.addEventListener('click', () => {
      if (!edit.check()) return undefined;
      return busy(save, async () => {
        try {
          await putSubresource(bucket, name, edit.value());
        } catch (e) {
          edit.showError(errorText(e)); // shown by the editor, not again as a notice
          return;
        }
        notify(`${title} saved`);
        await refresh();
      });
    });
    remove.addEventListener('click', async () => {
      if (!await confirmAction(`Delete the ${title.toLowerCase()} configuration?`, `It is removed from ${bucket}.`)) return;
      await busy(remove, async () => {
        await deleteSubresource(bucket, name);
        notify(`${title} deleted`);
        await refresh();
      });
    });
    guard([{ element: [save, remove], action, resource: arn(bucket) }]);
    return el('div', {}, current ? null : el('p', { class: 'muted', text: `No ${title} configuration (an example is shown greyed).` }),
      edit.element, el('div', { class: 'actions' }, save, current ? remove : null));
  });
}

/** Renders the view into `container`. */
export async function render(container, { path }) {
  const bucket = path[1];
  const sections = [
    versioning(bucket),
    encryption(bucket),
    anonymous(bucket),
    publicAccessBlock(bucket),
    policy(bucket),
    xmlSetting(bucket, { title: 'CORS', id: 'cors', name: 'cors', action: 's3:PutBucketCORS', example: CORS_EXAMPLE }),
    xmlSetting(bucket, { title: 'Lifecycle', id: 'lifecycle', name: 'lifecycle', action: 's3:PutLifecycleConfiguration', example: LIFECYCLE_EXAMPLE }),
  ];
  container.append(
    el('h1', { class: 'breadcrumb' }, el('a', { href: '#/buckets', text: 'Buckets' }), ' / ',
      el('a', { href: `#/b/${encodeURIComponent(bucket)}`, text: bucket }), ' / settings'),
    el('div', { class: 'grid' }, sections.map((s) => s.element)));
  await Promise.all(sections.map((s) => s.refresh()));
}
