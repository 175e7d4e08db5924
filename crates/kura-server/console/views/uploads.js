/**
 * views/uploads.js: the uploads of the objects view: a queue (three files at a time) of upload.js's
 * uploads, each a row with its progress bar, state, Resume, Cancel and Clear. They live as long as the
 * page, not the view: leaving the objects view and coming back shows them, still running.
 */

import { el, errorText } from '../dom.js';
import { Upload } from '../upload.js';

/** Files uploaded at the same time. */
const PARALLEL_FILES = 3;

/** Every upload of this page: {upload, row}. */
const uploads = [];
const finished = new Set();
/** The list on screen (the latest panel's). */
let list = null;

const ended = (entry) => ['done', 'cancelled'].includes(entry.upload.state);

function uploadRow(upload, onRemove) {
  const bar = el('progress', { max: 100, value: 0 });
  const percent = el('span', { class: 'percent', text: '0%' });
  const state = el('span', { class: 'state' });
  const resume = el('button', { type: 'button', class: 'small resume', text: 'Resume', hidden: true, onclick: () => upload.resume().then(pump) });
  const cancel = el('button', { type: 'button', class: 'secondary small', text: 'Cancel', onclick: () => upload.cancel() });
  const remove = el('button', { type: 'button', class: 'secondary small', text: 'Clear', hidden: true, onclick: onRemove });
  const row = el('li', { class: 'upload', dataset: { key: upload.key, state: upload.state } },
    el('span', { class: 'upload-key', text: upload.key }), bar, percent, state, resume, cancel, remove);
  const labels = { queued: 'waiting', uploading: 'uploading', done: 'done', failed: 'failed', cancelled: 'cancelled' };
  row.update = () => {
    const p = upload.percent;
    bar.value = p;
    percent.textContent = `${p}%`;
    row.dataset.state = upload.state;
    row.dataset.percent = String(p);
    state.textContent = upload.state === 'failed' ? `failed: ${errorText(upload.error)}` : labels[upload.state];
    resume.hidden = upload.state !== 'failed';
    cancel.hidden = !['queued', 'uploading', 'failed'].includes(upload.state);
    remove.hidden = !['done', 'cancelled'].includes(upload.state);
  };
  row.update();
  return row;
}

/** Starts queued uploads while fewer than PARALLEL_FILES run. */
function pump() {
  let running = uploads.filter((u) => u.upload.state === 'uploading').length;
  for (const entry of uploads) {
    if (running >= PARALLEL_FILES) break;
    if (entry.upload.state === 'queued') {
      running += 1;
      entry.upload.start().then(pump);
    }
  }
}

/** Queues `{file, path}` pairs for upload to `bucket` under `prefix`. */
export function enqueue(bucket, files, prefix) {
  for (const { file, path } of files) {
    const entry = {};
    entry.upload = new Upload(bucket, prefix + path, file, (u) => {
      entry.row.update();
      if (u.state === 'done') for (const listener of finished) listener(u);
    });
    entry.row = uploadRow(entry.upload, () => {
      uploads.splice(uploads.indexOf(entry), 1);
      entry.row.remove();
    });
    uploads.push(entry);
    if (list) list.append(entry.row);
  }
  pump();
}

/** Calls `listener(upload)` whenever an upload is done; returns the function that stops it. */
export function onUploaded(listener) {
  finished.add(listener);
  return () => finished.delete(listener);
}

/** The panel for a view: the page's uploads so far, and Clear finished. */
export function uploadsPanel() {
  list = el('ul', { id: 'uploads', class: 'uploads' }, uploads.map((u) => u.row));
  const clearFinished = el('button', { type: 'button', class: 'secondary small', id: 'clear-uploads', text: 'Clear finished' });
  clearFinished.addEventListener('click', () => {
    for (const entry of uploads.filter(ended)) entry.row.remove();
    uploads.splice(0, uploads.length, ...uploads.filter((u) => !ended(u)));
  });
  return el('div', { id: 'uploads-panel' }, el('div', { class: 'uploads-bar' }, clearFinished), list);
}
