/**
 * drop.js: the files of a drag-and-drop, folders included (walked through the File and Directory Entries
 * API), as `{file, path}` with the path relative to what was dropped ("photos/2024/a.jpg").
 */

/** Every entry of a directory (readEntries answers in batches until it answers none). */
async function entriesOf(directory) {
  const reader = directory.createReader();
  const all = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return all;
    all.push(...batch);
  }
}

async function walk(entry, found) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    found.push({ file, path: entry.fullPath.replace(/^\//, '') });
  } else if (entry.isDirectory) {
    for (const child of await entriesOf(entry)) await walk(child, found);
  }
}

/** The files of a drop event's DataTransfer. */
export async function droppedFiles(dataTransfer) {
  const entries = Array.from(dataTransfer.items || [])
    .filter((item) => item.kind === 'file')
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((e) => !e)) {
    return Array.from(dataTransfer.files || []).map((file) => ({ file, path: file.name }));
  }
  const found = [];
  for (const entry of entries) await walk(entry, found);
  return found;
}
