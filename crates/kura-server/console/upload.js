/**
 * upload.js: uploads with progress, through the console's S3 proxy. A file up to 8 MiB is one PutObject;
 * a larger one is a multipart upload (8 MiB parts, or more for files over 78 GiB so that 10,000 parts
 * suffice), three parts in flight, each part retried with backoff. When a part still fails, the upload
 * stops as "failed" and keeps its UploadId and finished parts: `resume()` sends only the missing parts
 * ("resumable within the page"). Progress comes from XMLHttpRequest's upload events (fetch has none).
 */

import { baseHeaders, errorFromText, s3Path, queryString } from './api.js';
import { s3, xmlOf, text, xmlEscape } from './s3.js';

/** Files larger than this go multipart. */
export const MULTIPART_THRESHOLD = 8 * 1024 * 1024;
const MIN_PART = 8 * 1024 * 1024;
const MAX_PARTS = 10000;
const PARALLEL_PARTS = 3;
const ATTEMPTS = 4;

/** Sends `body` with XMLHttpRequest; resolves with the XHR on 2xx, rejects with an ApiError otherwise. */
function xhrSend(method, url, body, headers, onProgress, registry) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    registry.add(xhr);
    xhr.open(method, url);
    for (const [name, value] of Object.entries(baseHeaders(headers))) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded));
    xhr.addEventListener('load', () => {
      registry.delete(xhr);
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
      else reject(errorFromText(xhr.status, xhr.getResponseHeader('Content-Type') || '', xhr.responseText));
    });
    const failed = (why) => () => {
      registry.delete(xhr);
      const error = new Error(why);
      error.code = why === 'cancelled' ? 'Cancelled' : 'NetworkError';
      reject(error);
    };
    xhr.addEventListener('error', failed('the connection failed'));
    xhr.addEventListener('abort', failed('cancelled'));
    xhr.send(body);
  });
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether an error is worth another attempt (network trouble, a 5xx, SlowDown), not a refusal. */
function retryable(error) {
  return !error.status || error.status >= 500 || error.status === 429;
}

/** The part size for a file of `size` bytes. */
export function partSize(size) {
  return Math.max(MIN_PART, Math.ceil(size / MAX_PARTS / (1024 * 1024)) * 1024 * 1024);
}

/** One file's upload to `bucket`/`key`; `onChange(upload)` is called at every change of state or progress. */
export class Upload {
  constructor(bucket, key, file, onChange) {
    Object.assign(this, { bucket, key, file, onChange });
    this.total = file.size;
    this.state = 'queued'; // queued, uploading, failed, done, cancelled
    this.error = null;
    this.uploadId = null;
    this.parts = new Map(); // part number -> ETag
    this.inFlight = new Map(); // part number -> bytes sent so far
    this.requests = new Set();
    this.cancelled = false;
  }

  /** Bytes sent so far (finished parts and the parts in flight). */
  get loaded() {
    if (this.state === 'done') return this.total;
    let sent = 0;
    for (const number of this.parts.keys()) sent += this.partBytes(number);
    for (const bytes of this.inFlight.values()) sent += bytes;
    return Math.min(sent, this.total);
  }

  /** Percent sent, 0 to 100. */
  get percent() {
    return this.total === 0 ? (this.state === 'done' ? 100 : 0) : Math.floor((this.loaded / this.total) * 100);
  }

  partBytes(number) {
    const size = partSize(this.total);
    return Math.min(size, this.total - (number - 1) * size);
  }

  changed() {
    this.onChange(this);
  }

  /** Starts (or, after a failure, resumes) the upload; resolves when it is done, failed or cancelled. */
  async start() {
    this.state = 'uploading';
    this.error = null;
    this.cancelled = false;
    this.changed();
    try {
      if (this.total <= MULTIPART_THRESHOLD) await this.single();
      else await this.multipart();
      this.state = 'done';
    } catch (e) {
      this.state = this.cancelled ? 'cancelled' : 'failed';
      this.error = e;
    }
    this.inFlight.clear();
    this.changed();
    return this.state;
  }

  /** Continues a failed upload with the parts still missing. */
  resume() {
    return this.start();
  }

  /** Stops the upload; a multipart upload is aborted so its parts do not stay on the server. */
  async cancel() {
    this.cancelled = true;
    for (const xhr of this.requests) xhr.abort();
    if (this.uploadId) {
      const uploadId = this.uploadId;
      this.uploadId = null;
      await s3('DELETE', this.bucket, this.key, { uploadId }).catch(() => {});
    }
    this.state = 'cancelled';
    this.changed();
  }

  headers() {
    return { 'Content-Type': this.file.type || 'application/octet-stream' };
  }

  async single() {
    await this.attempts(async () => {
      this.inFlight.set(1, 0);
      await xhrSend('PUT', s3Path(this.bucket, this.key), this.file, this.headers(), (sent) => {
        this.inFlight.set(1, sent);
        this.changed();
      }, this.requests);
    });
  }

  async multipart() {
    if (!this.uploadId) {
      const response = await s3('POST', this.bucket, this.key, { uploads: null }, { headers: this.headers() });
      this.uploadId = text(await xmlOf(response), 'UploadId');
    }
    const size = partSize(this.total);
    const count = Math.max(1, Math.ceil(this.total / size));
    const missing = [];
    for (let n = 1; n <= count; n += 1) if (!this.parts.has(n)) missing.push(n);
    let failure = null;
    const worker = async () => {
      while (missing.length && !this.cancelled && !failure) {
        const number = missing.shift();
        try {
          await this.part(number, size);
        } catch (e) {
          failure = failure || e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, missing.length) }, worker));
    if (this.cancelled) throw Object.assign(new Error('cancelled'), { code: 'Cancelled' });
    if (failure) throw failure;
    const body = '<CompleteMultipartUpload>' +
      Array.from(this.parts.keys()).sort((a, b) => a - b)
        .map((n) => `<Part><PartNumber>${n}</PartNumber><ETag>${xmlEscape(this.parts.get(n))}</ETag></Part>`)
        .join('') +
      '</CompleteMultipartUpload>';
    await s3('POST', this.bucket, this.key, { uploadId: this.uploadId }, {
      body,
      headers: { 'Content-Type': 'application/xml' },
    });
    this.uploadId = null;
  }

  async part(number, size) {
    const blob = this.file.slice((number - 1) * size, Math.min(number * size, this.total));
    const url = s3Path(this.bucket, this.key) + queryString({ partNumber: number, uploadId: this.uploadId });
    await this.attempts(async () => {
      this.inFlight.set(number, 0);
      const xhr = await xhrSend('PUT', url, blob, {}, (sent) => {
        this.inFlight.set(number, sent);
        this.changed();
      }, this.requests);
      this.parts.set(number, xhr.getResponseHeader('ETag') || '');
    }).finally(() => this.inFlight.delete(number));
    this.changed();
  }

  /** Runs `send` up to ATTEMPTS times while its failures are retryable (1 s, 2 s, 4 s apart). */
  async attempts(sendOnce) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await sendOnce();
      } catch (e) {
        if (this.cancelled || attempt >= ATTEMPTS || !retryable(e)) throw e;
        await wait(1000 * 2 ** (attempt - 1));
      }
    }
  }
}
