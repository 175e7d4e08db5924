/**
 * dom.js: building the page safely. Every string goes into the page as text (textContent or an
 * attribute set one by one), never as HTML: object keys, tags, policies and audit records are written
 * by whoever can write to kura, so none of them may ever be parsed as markup.
 */

/**
 * Makes an element. `attrs` keys: `class`, `text`, `on<event>` (a listener), `dataset` (an object),
 * `value`; `true` sets a boolean attribute (`disabled`, `checked`, `hidden`, ...); anything else is an
 * attribute; `undefined`, `null` and `false` are left out.
 * Children are nodes or strings (strings become text nodes); null and false are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, '');
    else if (name === 'value') node.value = String(value);
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

/** Appends nodes and strings (as text) to `parent`. */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Removes every child of `node`, then appends `children` (as `append` does: null is skipped). */
export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** A table: `headers` are strings, each row an array of cells (nodes or strings). */
export function table(headers, rows, attrs = {}) {
  const head = el('thead', {}, el('tr', {}, headers.map((h) => el('th', { text: h }))));
  const body = el('tbody');
  const fragment = document.createDocumentFragment();
  for (const row of rows) fragment.append(tableRow(row));
  body.append(fragment);
  return el('table', attrs, head, body);
}

/** One table row of cells (nodes or strings); a cell given as `{cell, attrs}` gets attributes. */
export function tableRow(cells, attrs = {}) {
  return el('tr', attrs, cells.map((c) => (c && c.cell !== undefined ? el('td', c.attrs, c.cell) : el('td', {}, c))));
}

/** A section with a heading, in a card. */
export function card(title, ...children) {
  return el('section', { class: 'card' }, title ? el('h2', { text: title }) : null, ...children);
}

/** Human-readable size: 1536 -> "1.5 KiB". */
export function formatBytes(n) {
  const size = Number(n);
  if (!Number.isFinite(size)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${size} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A date as local "YYYY-MM-DD HH:MM:SS" (the raw text when it does not parse). */
export function formatDate(text) {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text || '';
  const pad = (v) => String(v).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Shows a short message over the top bar; it goes after 4 s (an error after 15 s, or when closed). */
export function notify(message, kind = 'info') {
  const box = document.getElementById('notices');
  const note = el('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    el('span', { text: message }),
    el('button', { type: 'button', class: 'close', 'aria-label': 'Close', text: '×', onclick: () => note.remove() }));
  box.append(note);
  setTimeout(() => note.remove(), kind === 'error' ? 15000 : 4000);
  while (box.children.length > 3) box.firstElementChild.remove();
  return note;
}

/** Asks for confirmation in a modal dialog; resolves true when confirmed. */
export function confirmAction(title, message, okLabel = 'Delete') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-message').textContent = message;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/** Copies text to the clipboard (falls back to selecting it in `input` when the browser refuses). */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    notify('Copied to the clipboard');
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    notify('The browser does not allow copying here: the text is selected, press Ctrl+C', 'info');
  }
}

/** Runs `work` with `button` disabled (and busy) meanwhile; shows an error notice when it fails. */
export async function busy(button, work) {
  const wasDisabled = button.disabled;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } catch (e) {
    notify(errorText(e), 'error');
    return undefined;
  } finally {
    button.removeAttribute('aria-busy');
    button.disabled = wasDisabled;
  }
}

/** The text to show for an error: "Code: message" for kura's errors, the message otherwise. */
export function errorText(e) {
  if (e && e.code) return e.message ? `${e.code}: ${e.message}` : e.code;
  return e && e.message ? e.message : String(e);
}
