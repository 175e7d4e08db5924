/**
 * views/objects.js: browsing a bucket by prefix, one ListObjectsV2 page (1,000 keys, delimiter "/") at a
 * time with its continuation token, so a prefix of any size opens as fast as one page; folders; uploads
 * of files and folders, picked or dropped on the page (views/uploads.js); download through a presigned
 * URL; deletion after a confirmation.
 */

import { api } from '../api.js';
import { arn, guard } from '../can.js';
import { busy, clear, confirmAction, el, errorText, formatBytes, formatDate, notify, tableRow } from '../dom.js';
import { deleteObject, listObjects, putObject } from '../s3.js';
import { droppedFiles } from '../drop.js';
import { enqueue, onUploaded, uploadsPanel } from './uploads.js';

/** The last part of a key or prefix ("a/b/c.txt" -> "c.txt", "a/b/" -> "b/"). */
export function baseName(key) {
  const trimmed = key.endsWith('/') ? key.slice(0, -1) : key;
  const name = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return key.endsWith('/') ? `${name}/` : name;
}

/** The hash of the objects view of `bucket` under `prefix`. */
export function objectsHash(bucket, prefix) {
  return `#/b/${encodeURIComponent(bucket)}${prefix ? `?prefix=${encodeURIComponent(prefix)}` : ''}`;
}

/** The hash of one object's view. */
export function objectHash(bucket, key) {
  return `#/o/${encodeURIComponent(bucket)}?key=${encodeURIComponent(key)}`;
}

/** Downloads an object (or one of its versions) through a short presigned GET URL. */
export async function download(bucket, key, versionId) {
  const ask = { method: 'GET', bucket, key, expires_seconds: 300 };
  if (versionId) ask.version_id = versionId;
  const { url } = await api('POST', 'presign', ask);
  if (!/^https?:\/\//.test(url)) throw new Error('kura answered an unexpected URL');
  const link = el('a', { href: url, download: baseName(key), hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

function breadcrumb(bucket, prefix) {
  const parts = [el('a', { href: '#/buckets', text: 'Buckets' }), ' / ',
    el('a', { href: objectsHash(bucket, ''), text: bucket })];
  let path = '';
  for (const part of prefix.split('/').slice(0, -1)) {
    path += `${part}/`;
    parts.push(' / ', el('a', { href: objectsHash(bucket, path), text: part }));
  }
  return el('h1', { class: 'breadcrumb' }, parts);
}

/** Rows drawn before the first paint of a listing page (more than a screenful). */
const FIRST_ROWS = 60;

function folderRow(href, text) {
  return tableRow([el('a', { href, class: 'folder', text }), '', '', '']);
}

/** One object's row, the template below cloned (a page has up to 1,000: cloning is the fast way). */
const ROW = el('tr', {},
  el('td', {}, el('a', { class: 'object' })), el('td', { class: 'num' }), el('td'),
  el('td', {}, el('span', { class: 'row-actions' },
    el('button', { type: 'button', class: 'secondary small', text: 'Download', dataset: { action: 'download' } }),
    el('button', { type: 'button', class: 'danger small', text: 'Delete', dataset: { action: 'delete' } }))));

function objectRow(bucket, prefix, object) {
  const tr = ROW.cloneNode(true);
  const [name, size, modified, actions] = tr.children;
  tr.dataset.key = object.key;
  name.firstChild.href = objectHash(bucket, object.key);
  name.firstChild.textContent = object.key.slice(prefix.length);
  size.textContent = formatBytes(object.size);
  size.title = `${object.size} bytes`;
  modified.textContent = formatDate(object.modified);
  const [get, remove] = actions.firstChild.children;
  get.dataset.key = object.key;
  remove.dataset.key = object.key;
  return { tr, get, remove };
}

/** Renders the view into `container`. */
export async function render(container, { path, query }) {
  const bucket = path[1];
  const prefix = query.get('prefix') || '';
  const uploadFiles = el('input', { type: 'file', id: 'upload-files', multiple: true, class: 'file-input' });
  const uploadFolder = el('input', { type: 'file', id: 'upload-folder', class: 'file-input' });
  uploadFolder.webkitdirectory = true;
  const filesLabel = el('label', { class: 'button', for: 'upload-files', text: 'Upload files' });
  const folderLabel = el('label', { class: 'button secondary', for: 'upload-folder', text: 'Upload folder' });
  const folderName = el('input', { id: 'folder-name', 'aria-label': 'New folder name', placeholder: 'new folder', spellcheck: 'false', required: true });
  const folderButton = el('button', { type: 'submit', class: 'secondary', text: 'Create folder' });
  const filter = el('input', { id: 'filter', 'aria-label': 'Filter by name prefix', type: 'search', placeholder: 'Filter by name prefix', spellcheck: 'false' });
  const refreshButton = el('button', { type: 'button', class: 'secondary', text: 'Refresh' });
  const status = el('p', { class: 'muted', id: 'listing-status' });
  const body = el('tbody');
  const listing = el('table', { class: 'list', id: 'objects-table' },
    el('thead', {}, el('tr', {}, ['Name', 'Size', 'Last modified', ''].map((h) => el('th', { text: h })))), body);
  const previous = el('button', { type: 'button', class: 'secondary', id: 'previous-page', text: '← Previous' });
  const next = el('button', { type: 'button', class: 'secondary', id: 'next-page', text: 'Next →' });
  const pageLabel = el('span', { class: 'muted', id: 'page-label' });
  const deniedNote = el('p', { class: 'denied-note', id: 'upload-denied', hidden: true });

  container.append(
    breadcrumb(bucket, prefix),
    el('div', { class: 'toolbar' },
      uploadFiles, filesLabel, uploadFolder, folderLabel,
      el('form', { class: 'inline-form', id: 'folder-form' }, folderName, folderButton),
      filter, refreshButton,
      el('a', { class: 'button secondary', href: `#/b/${encodeURIComponent(bucket)}/settings`, text: 'Bucket settings' })),
    deniedNote,
    uploadsPanel(),
    el('section', { class: 'card' }, status, listing, el('div', { class: 'pager' }, previous, pageLabel, next)),
  );

  const uploadGuard = { element: [filesLabel, folderLabel, folderButton, uploadFiles, uploadFolder], action: 's3:PutObject', resource: arn(bucket, `${prefix}*`) };
  guard([uploadGuard]).then(() => {
    // A label is not a form control: mirror the input's state on it.
    for (const [label, input] of [[filesLabel, uploadFiles], [folderLabel, uploadFolder]]) {
      label.classList.toggle('disabled', input.disabled);
      if (input.disabled) label.title = input.title;
    }
    if (uploadFiles.disabled) {
      deniedNote.textContent = `Read-only here: ${uploadFiles.title}`;
      deniedNote.hidden = false;
    }
  });

  const tokens = [''];
  let page = 0;
  let shownPrefix = prefix;
  let rendering = null;

  const show = async () => {
    status.textContent = 'Loading…';
    listing.setAttribute('aria-busy', 'true'); // until every row of the page is drawn
    const result = await listObjects(bucket, shownPrefix, tokens[page]);
    if (result.next) tokens[page + 1] = result.next;
    else tokens.length = page + 1;
    // Rows are made on demand: the first screenful now, the rest of the page after it is painted.
    const makers = [];
    if (page === 0 && prefix) {
      const parent = prefix.slice(0, prefix.slice(0, -1).lastIndexOf('/') + 1);
      makers.push(() => folderRow(objectsHash(bucket, parent), '..'));
    }
    for (const folder of result.folders) makers.push(() => folderRow(objectsHash(bucket, folder), folder.slice(prefix.length)));
    const getButtons = [];
    const deleteButtons = [];
    for (const object of result.objects) {
      makers.push(() => {
        const row = objectRow(bucket, prefix, object);
        getButtons.push(row.get);
        deleteButtons.push(row.remove);
        return row.tr;
      });
    }
    const rows = (list) => {
      const fragment = document.createDocumentFragment();
      for (const make of list) fragment.append(make());
      return fragment;
    };
    const drawn = {};
    rendering = drawn;
    clear(body).append(rows(makers.slice(0, FIRST_ROWS)));
    const shown = result.folders.length + result.objects.length;
    status.textContent = shown ? `${result.objects.length} objects and ${result.folders.length} folders on this page` : 'Nothing here yet.';
    pageLabel.textContent = `Page ${page + 1}`;
    previous.disabled = page === 0;
    next.disabled = !result.next;
    performance.clearMarks('kura:page'); // for scripts/bench-console: the latest page only
    performance.clearMarks('kura:page-complete');
    performance.mark('kura:page');
    const complete = () => {
      performance.mark('kura:page-complete');
      listing.setAttribute('aria-busy', 'false');
      guard([
        { element: getButtons, action: 's3:GetObject', resource: arn(bucket, `${shownPrefix}*`) },
        { element: deleteButtons, action: 's3:DeleteObject', resource: arn(bucket, `${shownPrefix}*`) },
      ]);
    };
    if (makers.length <= FIRST_ROWS) {
      complete();
      return;
    }
    requestAnimationFrame(() => setTimeout(() => {
      if (rendering !== drawn) return; // another page (or view) was drawn meanwhile
      body.append(rows(makers.slice(FIRST_ROWS)));
      complete();
    }));
  };
  const reload = () => show().catch((e) => {
    status.textContent = errorText(e);
    status.className = 'error';
    listing.setAttribute('aria-busy', 'false');
  });

  body.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const key = button.dataset.key;
    if (button.dataset.action === 'download') {
      await busy(button, () => download(bucket, key));
    } else if (await confirmAction(`Delete ${baseName(key)}?`, `The object ${key} in bucket ${bucket} is deleted.` +
      ' When the bucket keeps versions, the older versions stay.')) {
      await busy(button, async () => {
        await deleteObject(bucket, key);
        notify(`Deleted ${key}`);
        await reload();
      });
    }
  });
  previous.addEventListener('click', () => {
    page = Math.max(0, page - 1);
    reload();
  });
  next.addEventListener('click', () => {
    if (tokens[page + 1]) {
      page += 1;
      reload();
    }
  });
  refreshButton.addEventListener('click', () => reload());
  filter.addEventListener('change', () => {
    shownPrefix = prefix + filter.value;
    tokens.length = 1;
    page = 0;
    reload();
  });
  for (const input of [uploadFiles, uploadFolder]) {
    input.addEventListener('change', () => {
      const picked = Array.from(input.files).map((file) => ({ file, path: file.webkitRelativePath || file.name }));
      enqueue(bucket, picked, prefix);
      input.value = '';
    });
  }
  // Files and folders dropped anywhere on the view are uploaded here, when uploading is allowed. The
  // container outlives this view: its listeners go with the view (`listening`).
  const listening = new AbortController();
  const { signal } = listening;
  container.addEventListener('dragover', (event) => {
    if (uploadFiles.disabled || !event.dataTransfer.types.includes('Files')) return;
    event.preventDefault();
    container.classList.add('dropping');
  }, { signal });
  container.addEventListener('dragleave', (event) => {
    if (!container.contains(event.relatedTarget)) container.classList.remove('dropping');
  }, { signal });
  container.addEventListener('drop', async (event) => {
    container.classList.remove('dropping');
    if (uploadFiles.disabled) return;
    event.preventDefault();
    enqueue(bucket, await droppedFiles(event.dataTransfer), prefix);
  }, { signal });
  container.querySelector('#folder-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = folderName.value.trim().replace(/\/+$/, '');
    if (!name) return;
    await busy(folderButton, async () => {
      await putObject(bucket, `${prefix}${name}/`);
      folderName.value = '';
      window.location.hash = objectsHash(bucket, `${prefix}${name}/`);
    });
  });

  let pending = null;
  const stopListening = onUploaded((u) => {
    if (u.bucket !== bucket || !u.key.startsWith(prefix)) return;
    clearTimeout(pending);
    pending = setTimeout(reload, 300);
  });

  await reload();
  return () => {
    listening.abort();
    container.classList.remove('dropping');
    rendering = null;
    clearTimeout(pending);
    stopListening();
  };
}
