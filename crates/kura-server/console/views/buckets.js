/**
 * views/buckets.js: the bucket list (ListBuckets), creating a bucket and deleting one after a
 * confirmation. Buttons the principal may not use are disabled with the reason (can.js).
 */

import { arn, guard } from '../can.js';
import { busy, card, clear, confirmAction, el, formatDate, notify, table } from '../dom.js';
import { createBucket, deleteBucket, listBuckets } from '../s3.js';

/** Renders the view into `container`. */
export async function render(container) {
  const name = el('input', { id: 'new-bucket', 'aria-label': 'New bucket name', placeholder: 'new-bucket-name', required: true, spellcheck: 'false',
    pattern: '[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]', title: '3 to 63 lowercase letters, digits, dots and hyphens' });
  const create = el('button', { id: 'create-bucket', type: 'submit', text: 'Create bucket' });
  const form = el('form', { class: 'inline-form' }, name, create);
  const list = el('div', { id: 'bucket-list' }, el('p', { class: 'muted', text: 'Loading…' }));
  container.append(el('h1', { text: 'Buckets' }), card('Create a bucket', form), card(null, list));

  let recheck = null;
  name.addEventListener('input', () => {
    clearTimeout(recheck);
    recheck = setTimeout(() => guard([{ element: create, action: 's3:CreateBucket', resource: arn(name.value || '*') }]), 300);
  });
  guard([{ element: create, action: 's3:CreateBucket', resource: arn('*') }]);

  const refresh = async () => {
    const buckets = await listBuckets();
    clear(list);
    if (!buckets.length) {
      list.append(el('p', { class: 'muted', text: 'No buckets yet.' }));
      return;
    }
    const guards = [];
    const rows = buckets.map((b) => {
      const remove = el('button', { type: 'button', class: 'danger small', text: 'Delete', dataset: { bucket: b.name } });
      remove.addEventListener('click', async () => {
        const ok = await confirmAction(`Delete bucket ${b.name}?`,
          `The bucket ${b.name} is deleted for good. S3 deletes only empty buckets: delete its objects first.`);
        if (!ok) return;
        await busy(remove, async () => {
          await deleteBucket(b.name);
          notify(`Bucket ${b.name} deleted`);
          await refresh();
        });
      });
      const settings = el('a', { class: 'button secondary small', href: `#/b/${encodeURIComponent(b.name)}/settings`, text: 'Settings' });
      guards.push({ element: remove, action: 's3:DeleteBucket', resource: arn(b.name) });
      return [
        el('a', { href: `#/b/${encodeURIComponent(b.name)}`, class: 'bucket-link', text: b.name }),
        formatDate(b.created),
        el('span', { class: 'row-actions' }, settings, remove),
      ];
    });
    list.append(table(['Name', 'Created', ''], rows, { class: 'list', id: 'buckets-table' }));
    guard(guards);
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await busy(create, async () => {
      await createBucket(name.value.trim());
      notify(`Bucket ${name.value.trim()} created`);
      name.value = '';
      await refresh();
    });
  });

  await refresh();
}
