/**
 * editor.js: a text area for a JSON policy or an XML configuration that checks the text as it is typed
 * and says where the first error is (line and column), selecting that line. The server checks again
 * (and more: the policy grammar); its message is shown the same way.
 */

import { el } from './dom.js';

/** Line and column (1-based) of character `offset` in `text`. */
export function lineColumn(text, offset) {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/**
 * The first JSON syntax error of `text` as `{message, line, column}`, or null when it parses. The browser's
 * message gives a position ("at position 57", and in newer engines "(line 4 column 3)").
 */
export function jsonError(text) {
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    const message = String(e.message);
    const explicit = /line (\d+) column (\d+)/.exec(message);
    if (explicit) return { message, line: Number(explicit[1]), column: Number(explicit[2]) };
    const position = /position (\d+)/.exec(message);
    if (position) return { message, ...lineColumn(text, Number(position[1])) };
    // "Unexpected end of JSON input": the error is at the end.
    return { message, ...lineColumn(text, text.length) };
  }
}

/**
 * The first XML well-formedness error of `text` as `{message, line, column}`, or null: tags that open and
 * close in order, one root element, `&` only in an entity or character reference. (A small checker of its
 * own: DOMParser's error document carries an inline style, which the console's CSP refuses.)
 */
export function xmlError(text) {
  const token = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/y;
  const open = [];
  let roots = 0;
  const at = (offset, message) => ({ message, ...lineColumn(text, offset) });
  for (let i = 0; i < text.length;) {
    const next = text.indexOf('<', i);
    const chunk = text.slice(i, next === -1 ? text.length : next);
    const amp = chunk.search(/&(?!(?:lt|gt|amp|apos|quot|#\d+|#x[\da-fA-F]+);)/);
    if (amp !== -1) return at(i + amp, 'a bare "&": write &amp;');
    if (!open.length && chunk.trim()) return at(i + chunk.search(/\S/), 'text outside the root element');
    if (next === -1) break;
    token.lastIndex = next;
    const m = token.exec(text);
    if (!m) return at(next, 'a "<" that starts no well-formed tag (a name, quoted attribute values), comment or declaration');
    i = token.lastIndex;
    if (!m[2]) continue; // comment, declaration, CDATA
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      const top = open.pop();
      if (!top) return at(next, `</${name}> closes nothing`);
      if (top.name !== name) {
        return at(next, `</${name}> does not close <${top.name}> (line ${lineColumn(text, top.offset).line})`);
      }
    } else {
      if (!open.length && (roots += 1) > 1) return at(next, 'a second root element');
      if (!selfClosing) open.push({ name, offset: next });
    }
  }
  if (open.length) {
    const top = open[open.length - 1];
    return at(top.offset, `<${top.name}> is never closed`);
  }
  return roots ? null : at(0, 'no element');
}

/** Where a server's message says the error is ("at line 3 column 7", serde_json's form), or null. */
export function serverErrorLine(message) {
  const at = /line (\d+) column (\d+)/.exec(message || '');
  return at ? { line: Number(at[1]), column: Number(at[2]) } : null;
}

/**
 * An editor: `{element, textarea, value(), set(text), check(), showError(message)}`. `kind` is 'json' or
 * 'xml'; `readOnly` makes it a viewer.
 */
export function editor(kind, { id, text = '', readOnly = false, rows = 14 } = {}) {
  const textarea = el('textarea', { id, class: 'code', rows, spellcheck: 'false', readonly: readOnly || null });
  textarea.value = text;
  const status = el('p', { class: 'editor-status', role: 'status' });
  const element = el('div', { class: 'editor' }, textarea, status);

  const selectLine = (line) => {
    const lines = textarea.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    const end = start + (lines[line - 1] || '').length;
    textarea.setSelectionRange(start, end);
  };
  const show = (error, prefix = '') => {
    if (!error) {
      status.textContent = textarea.value.trim() ? `Valid ${kind.toUpperCase()}` : '';
      status.className = 'editor-status ok';
      delete status.dataset.line;
      return true;
    }
    status.textContent = error.line
      ? `${prefix}Line ${error.line}, column ${error.column}: ${error.message}`
      : `${prefix}${error.message}`;
    status.className = 'editor-status error';
    if (error.line) {
      status.dataset.line = String(error.line);
      selectLine(error.line);
    }
    return false;
  };
  let timer = null;
  const check = () => {
    clearTimeout(timer); // a check pending from typing would hide what comes after this one
    if (!textarea.value.trim()) return show(null);
    return show(kind === 'json' ? jsonError(textarea.value) : xmlError(textarea.value));
  };
  textarea.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });

  return {
    element,
    textarea,
    value: () => textarea.value,
    set(value) {
      textarea.value = value;
      check();
    },
    check,
    /** Shows a server's refusal, with its line when the message names one. */
    showError(message) {
      const at = serverErrorLine(message);
      show({ message, line: at ? at.line : null, column: at ? at.column : null }, 'Refused by kura: ');
    },
  };
}

/** Pretty-prints JSON text (unchanged when it does not parse). */
export function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
