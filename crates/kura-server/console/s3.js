/**
 * s3.js: the S3 operations the console uses, as plain S3 requests through the console's S3 proxy
 * (`/kura/console/s3/...`): XML in and out, read with DOMParser and written with escaped text.
 */

import { send, s3Path, queryString } from './api.js';

/** Sends an S3 request to `bucket`/`key` with a query; resolves with the Response (2xx only). */
export function s3(method, bucket, key, query, init = {}) {
  const path = bucket ? s3Path(bucket, key || '') : `/kura/console/s3/`;
  return send(method, path + queryString(query), init);
}

/** Parses an XML answer. */
export async function xmlOf(response) {
  return new DOMParser().parseFromString(await response.text(), 'application/xml');
}

/** The text of the first `tag` under `node` ('' when absent). */
export function text(node, tag) {
  const found = node.getElementsByTagName(tag)[0];
  return found ? found.textContent : '';
}

/** Every direct or nested `tag` element under `node`, as an array. */
export function all(node, tag) {
  return Array.from(node.getElementsByTagName(tag));
}

/** Escapes text for an XML element's content. */
export function xmlEscape(value) {
  return String(value).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]);
}

/** ListBuckets: `[{name, created}]`. */
export async function listBuckets() {
  const doc = await xmlOf(await s3('GET', '', '', {}));
  return all(doc, 'Bucket').map((b) => ({ name: text(b, 'Name'), created: text(b, 'CreationDate') }));
}

/** CreateBucket. */
export function createBucket(name) {
  return s3('PUT', name, '', {});
}

/** DeleteBucket (it must be empty). */
export function deleteBucket(name) {
  return s3('DELETE', name, '', {});
}

/**
 * One page of ListObjectsV2 with delimiter "/": `{folders, objects, next, count}`; `next` is the
 * continuation token of the following page, or '' on the last page.
 */
export async function listObjects(bucket, prefix, token, maxKeys = 1000) {
  const query = { 'list-type': 2, delimiter: '/', 'max-keys': maxKeys, prefix };
  if (token) query['continuation-token'] = token;
  const doc = await xmlOf(await s3('GET', bucket, '', query));
  const root = doc.documentElement;
  const folders = Array.from(root.children)
    .filter((n) => n.localName === 'CommonPrefixes')
    .map((n) => text(n, 'Prefix'));
  const objects = Array.from(root.children)
    .filter((n) => n.localName === 'Contents')
    .map((n) => ({
      key: text(n, 'Key'),
      size: Number(text(n, 'Size')),
      modified: text(n, 'LastModified'),
      etag: text(n, 'ETag'),
      storageClass: text(n, 'StorageClass'),
    }));
  const truncated = text(root, 'IsTruncated') === 'true';
  return { folders, objects, next: truncated ? text(root, 'NextContinuationToken') : '' };
}

/** HeadObject: the response headers (metadata, size, type, ETag, version, encryption). */
export async function headObject(bucket, key, versionId) {
  const response = await s3('HEAD', bucket, key, versionId ? { versionId } : {});
  return response.headers;
}

/** DeleteObject (a version when `versionId` is given). */
export function deleteObject(bucket, key, versionId) {
  return s3('DELETE', bucket, key, versionId ? { versionId } : {});
}

/** PutObject of a small body (an empty "folder" marker, for instance). */
export function putObject(bucket, key, body = '') {
  return s3('PUT', bucket, key, {}, { body });
}

/** GetObjectTagging: `[{key, value}]`. */
export async function getTags(bucket, key) {
  const doc = await xmlOf(await s3('GET', bucket, key, { tagging: null }));
  return all(doc, 'Tag').map((t) => ({ key: text(t, 'Key'), value: text(t, 'Value') }));
}

/** PutObjectTagging (an empty list deletes every tag). */
export function putTags(bucket, key, tags) {
  if (!tags.length) return s3('DELETE', bucket, key, { tagging: null });
  const body = '<Tagging><TagSet>' +
    tags.map((t) => `<Tag><Key>${xmlEscape(t.key)}</Key><Value>${xmlEscape(t.value)}</Value></Tag>`).join('') +
    '</TagSet></Tagging>';
  return s3('PUT', bucket, key, { tagging: null }, { body, headers: { 'Content-Type': 'application/xml' } });
}

/** GetBucketVersioning: 'Enabled', 'Suspended' or '' (never enabled). */
export async function getVersioning(bucket) {
  const doc = await xmlOf(await s3('GET', bucket, '', { versioning: null }));
  return text(doc, 'Status');
}

/** PutBucketVersioning. */
export function putVersioning(bucket, status) {
  const body = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${xmlEscape(status)}</Status></VersioningConfiguration>`;
  return s3('PUT', bucket, '', { versioning: null }, { body, headers: { 'Content-Type': 'application/xml' } });
}

/** The versions and delete markers of exactly `key` (ListObjectVersions with prefix = key), newest first. */
export async function listVersions(bucket, key) {
  const found = [];
  let keyMarker = '';
  let versionMarker = '';
  // Keys that extend `key` (k, k2, k/...) share the prefix: page until they are past, at most 10 pages.
  for (let page = 0; page < 10; page += 1) {
    const query = { versions: null, prefix: key, 'max-keys': 1000 };
    if (keyMarker) Object.assign(query, { 'key-marker': keyMarker, 'version-id-marker': versionMarker });
    const doc = await xmlOf(await s3('GET', bucket, '', query));
    const root = doc.documentElement;
    for (const node of Array.from(root.children)) {
      if (node.localName !== 'Version' && node.localName !== 'DeleteMarker') continue;
      if (text(node, 'Key') !== key) continue;
      found.push({
        versionId: text(node, 'VersionId'),
        latest: text(node, 'IsLatest') === 'true',
        deleteMarker: node.localName === 'DeleteMarker',
        size: node.localName === 'Version' ? Number(text(node, 'Size')) : null,
        modified: text(node, 'LastModified'),
        etag: text(node, 'ETag'),
      });
    }
    if (text(root, 'IsTruncated') !== 'true') break;
    keyMarker = text(root, 'NextKeyMarker');
    versionMarker = text(root, 'NextVersionIdMarker');
    if (keyMarker !== key) break;
  }
  return found;
}

/**
 * A bucket sub-resource as XML text (`cors`, `lifecycle`, `encryption`), or '' when the bucket has none
 * (kura answers 404 with a NoSuch… code).
 */
export async function getSubresource(bucket, name) {
  try {
    const response = await s3('GET', bucket, '', { [name]: null });
    return await response.text();
  } catch (e) {
    if (e.status === 404 && e.code !== 'NoSuchBucket') return '';
    throw e;
  }
}

/** Puts a bucket sub-resource's XML. */
export function putSubresource(bucket, name, xml) {
  return s3('PUT', bucket, '', { [name]: null }, { body: xml, headers: { 'Content-Type': 'application/xml' } });
}

/** Deletes a bucket sub-resource. */
export function deleteSubresource(bucket, name) {
  return s3('DELETE', bucket, '', { [name]: null });
}
