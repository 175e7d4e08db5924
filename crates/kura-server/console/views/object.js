/**
 * views/object.js: one object: its metadata (HeadObject's headers), its tags (edit and save), its versions
 * when the bucket keeps them (ListObjectVersions), download, share and delete.
 */

import { arn, guard } from '../can.js';
import { busy, card, clear, confirmAction, el, errorText, formatBytes, formatDate, notify, table } from '../dom.js';
import { deleteObject, getTags, getVersioning, headObject, listVersions, putTags } from '../s3.js';
import { baseName, download, objectsHash } from './objects.js';

/** The response headers worth showing, in this order, with their labels. */
const SHOWN = [
  ['content-length', 'Size'],
  ['content-type', 'Content-Type'],
  ['etag', 'ETag'],
  ['last-modified', 'Last modified'],
  ['x-amz-version-id', 'Version'],
  ['x-amz-storage-class', 'Storage class'],
  ['cache-control', 'Cache-Control'],
  ['content-disposition', 'Content-Disposition'],
  ['content-encoding', 'Content-Encoding'],
  ['expires', 'Expires'],
  ['x-amz-server-side-encryption', 'Encryption'],
  ['x-amz-server-side-encryption-aws-kms-key-id', 'KMS key'],
  ['x-amz-object-lock-mode', 'Object Lock mode'],
  ['x-amz-object-lock-retain-until-date', 'Retain until'],
  ['x-amz-object-lock-legal-hold', 'Legal hold'],
];

function metadataTable(headers) {
  const rows = [];
  for (const [name, label] of SHOWN) {
    const value = headers.get(name);
    if (value === null) continue;
    rows.push([label, name === 'content-length' ? `${formatBytes(value)} (${value} bytes)` : value]);
  }
  for (const [name, value] of headers.entries()) {
    if (name.startsWith('x-amz-meta-')) rows.push([name, value]);
  }
  return table(['', ''], rows, { class: 'props', id: 'object-metadata' });
}

function tagEditor(bucket, key, tags) {
  const rows = el('div', { class: 'tag-rows' });
  const addRow = (tag = { key: '', value: '' }) => {
    const row = el('div', { class: 'tag-row' },
      el('input', { class: 'tag-key', 'aria-label': 'Tag key', placeholder: 'key', value: tag.key, maxlength: 128 }),
      el('input', { class: 'tag-value', 'aria-label': 'Tag value', placeholder: 'value', value: tag.value, maxlength: 256 }),
      el('button', { type: 'button', class: 'secondary small', text: 'Remove', onclick: () => row.remove() }));
    rows.append(row);
  };
  tags.forEach(addRow);
  const add = el('button', { type: 'button', class: 'secondary', text: 'Add tag', onclick: () => addRow() });
  const save = el('button', { type: 'button', id: 'save-tags', text: 'Save tags' });
  save.addEventListener('click', () => busy(save, async () => {
    const edited = Array.from(rows.querySelectorAll('.tag-row'))
      .map((r) => ({ key: r.querySelector('.tag-key').value, value: r.querySelector('.tag-value').value }))
      .filter((t) => t.key !== '');
    await putTags(bucket, key, edited);
    notify('Tags saved');
  }));
  guard([{ element: [save, add], action: 's3:PutObjectTagging', resource: arn(bucket, key) }]);
  return el('div', {}, rows, el('div', { class: 'actions' }, add, save));
}

function versionsTable(bucket, key, versions, refresh) {
  const deletes = [];
  const downloads = [];
  const rows = versions.map((v) => {
    const get = el('button', { type: 'button', class: 'small', text: 'Download' });
    get.addEventListener('click', () => busy(get, () => download(bucket, key, v.versionId)));
    if (v.deleteMarker) get.disabled = true;
    else downloads.push(get);
    const remove = el('button', { type: 'button', class: 'danger small', text: 'Delete version' });
    remove.addEventListener('click', async () => {
      const ok = await confirmAction('Delete this version?', `Version ${v.versionId} of ${key} is deleted for good.`);
      if (ok) await busy(remove, async () => {
        await deleteObject(bucket, key, v.versionId);
        notify('Version deleted');
        await refresh();
      });
    });
    deletes.push(remove);
    return [
      el('code', { text: v.versionId }),
      v.deleteMarker ? 'delete marker' : formatBytes(v.size),
      formatDate(v.modified),
      v.latest ? 'current' : '',
      get,
      remove,
    ];
  });
  guard([
    { element: deletes, action: 's3:DeleteObjectVersion', resource: arn(bucket, key) },
    { element: downloads, action: 's3:GetObjectVersion', resource: arn(bucket, key) },
  ]);
  return table(['Version', 'Size', 'Modified', '', '', ''], rows, { class: 'list', id: 'versions-table' });
}

/** Renders the view into `container`. */
export async function render(container, { path, query }) {
  const bucket = path[1];
  const key = query.get('key') || '';
  const folder = key.slice(0, key.lastIndexOf('/') + 1);
  const downloadButton = el('button', { type: 'button', id: 'download', text: 'Download' });
  const shareLink = el('a', { class: 'button secondary', text: 'Share',
    href: `#/share?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}` });
  const deleteButton = el('button', { type: 'button', class: 'danger', id: 'delete-object', text: 'Delete' });
  container.append(
    el('h1', { class: 'breadcrumb' }, el('a', { href: objectsHash(bucket, folder), text: `${bucket}/${folder}` }),
      el('span', { class: 'object-name', text: baseName(key) })),
    el('div', { class: 'toolbar' }, downloadButton, shareLink, deleteButton));
  guard([
    { element: downloadButton, action: 's3:GetObject', resource: arn(bucket, key) },
    { element: deleteButton, action: 's3:DeleteObject', resource: arn(bucket, key) },
  ]);
  downloadButton.addEventListener('click', () => busy(downloadButton, () => download(bucket, key)));
  deleteButton.addEventListener('click', async () => {
    if (!await confirmAction(`Delete ${baseName(key)}?`, `The object ${key} in bucket ${bucket} is deleted.`)) return;
    await busy(deleteButton, async () => {
      await deleteObject(bucket, key);
      notify(`Deleted ${key}`);
      window.location.hash = objectsHash(bucket, folder);
    });
  });

  const metadata = card('Metadata', el('p', { class: 'muted', text: 'Loading…' }));
  const tags = card('Tags', el('p', { class: 'muted', text: 'Loading…' }));
  const versions = card('Versions', el('p', { class: 'muted', text: 'Loading…' }));
  container.append(metadata, tags, versions);

  const fill = async (section, title, work) => {
    try {
      const content = await work();
      clear(section).append(el('h2', { text: title }), content);
    } catch (e) {
      clear(section).append(el('h2', { text: title }), el('p', { class: 'error', text: errorText(e) }));
    }
  };
  const showVersions = () => fill(versions, 'Versions', async () => {
    const status = await getVersioning(bucket);
    if (!status) return el('p', { class: 'muted', text: 'This bucket does not keep versions (versioning was never enabled).' });
    return versionsTable(bucket, key, await listVersions(bucket, key), showVersions);
  });
  await Promise.all([
    fill(metadata, 'Metadata', async () => metadataTable(await headObject(bucket, key))),
    fill(tags, 'Tags', async () => tagEditor(bucket, key, await getTags(bucket, key))),
    showVersions(),
  ]);
}
