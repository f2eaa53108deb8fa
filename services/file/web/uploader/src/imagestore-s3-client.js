// imagestore's S3 client for @uppy/aws-s3 (the build puts it where the plugin imports its Companion client;
// build.mjs says why). The plugin's S3Uploader cuts files, uploads parts, keeps progress and the resume state
// Golden Retriever persists; this client answers its six operations with imagestore's API:
//
//   putObject               the file's presigned POST, from the ticket the preprocessor got in a batch
//   createMultipartUpload   the multipart upload the preprocessor created (uploadId and key are the fileId)
//   uploadPart              signMultipartParts for the parts still to send, each with its SHA-256, then PUT
//   listParts               listMultipartParts (after a page reload: only the missing parts are sent)
//   completeMultipartUpload completeMultipartUpload (joins the parts, verifies the file)
//   abortMultipartUpload    abortMultipartUpload
import S3Client from '@uppy/aws-s3/internal/S3Client'
import { sha256Base64 } from './api.js'

/** The uploader instances by the name given to the plugin as its companionEndpoint. */
const instances = new Map()

export function registerInstance(name, instance) {
  instances.set(name, instance)
}

export function unregisterInstance(name) {
  instances.delete(name)
}

// Headers a page's script may not set: the browser sends them itself (the same Content-Length).
const FORBIDDEN = new Set(['content-length', 'host', 'connection'])

export default class ImagestoreS3Client extends S3Client {
  constructor({ companionEndpoint, requestAbortTimeout }) {
    super({ requestAbortTimeout })
    const instance = instances.get(companionEndpoint)
    if (!instance) throw new Error(`no imagestore uploader named ${companionEndpoint}`)
    this.api = instance.api
    this.uppy = instance.uppy
    /** Signed part URLs not used yet, by fileId then part number. */
    this.signedParts = new Map()
  }

  #fileByImagestoreId(fileId) {
    const file = this.uppy.getFiles().find((f) => f.meta.imagestoreFileId === fileId)
    if (!file) throw new Error(`no file of this upload has the imagestore id ${fileId}`)
    return file
  }

  /** @param {import('@uppy/aws-s3/lib/s3-client/types.js').PutObjectParams} params (Uppy's) */
  async putObject({ data, metadata, onProgress, signal }) {
    /** @type {import('./api.js').Schemas['UploadTarget']} */
    const upload = /** @type {any} */ (metadata).imagestoreUpload
    if (!metadata.imagestoreFileId || !upload) throw new Error('this file has no upload ticket')
    await this.waitForOnline(signal)
    const { etag } = await this.postObject({ url: upload.url, fields: upload.fields, data, onProgress, signal })
    return { location: upload.url, key: String(metadata.imagestoreFileId), etag }
  }

  /** @param {import('@uppy/aws-s3/lib/s3-client/types.js').CreateMultipartUploadParams} params (Uppy's) */
  async createMultipartUpload({ metadata }) {
    if (!metadata.imagestoreFileId || !metadata.imagestoreMultipart) {
      throw new Error('this file has no multipart upload')
    }
    return { uploadId: String(metadata.imagestoreFileId), key: String(metadata.imagestoreFileId) }
  }

  /** @param {import('@uppy/aws-s3/lib/s3-client/types.js').UploadPartParams} params (Uppy's) */
  async uploadPart({ uploadId, data, partNumber, onProgress, signal }) {
    const part = await this.#signedPart(uploadId, partNumber, data, signal)
    await this.waitForOnline(signal)
    const headers = Object.fromEntries(
      Object.entries(part.headers || {}).filter(([name]) => !FORBIDDEN.has(name.toLowerCase())),
    )
    let xhr
    try {
      xhr = await this.xhr({ url: part.url, method: 'PUT', data, headers, onProgress, signal })
    } finally {
      this.signedParts.get(uploadId)?.delete(partNumber) // a URL is used once; a retry signs again
    }
    const etag = xhr.getResponseHeader('etag')
    if (!etag) throw new Error(`S3 answered part ${partNumber} without an ETag (is ETag exposed by CORS?)`)
    return { etag: etag.replace(/^"|"$/g, '') }
  }

  /** The signed URL of one part: the parts still to send are signed together in one call (up to 100),
   * each with its SHA-256 (computed when the upload was prepared; checked again here for this part). */
  async #signedPart(fileId, partNumber, data, signal) {
    const cached = this.signedParts.get(fileId)?.get(partNumber)
    if (cached && Date.parse(cached.expiresAt) - Date.now() > 60_000) return cached
    const multipart = this.#fileByImagestoreId(fileId).meta.imagestoreMultipart
    const hashes = multipart.partSha256
    const own = await sha256Base64(data)
    if (hashes[partNumber - 1] !== own) {
      throw new Error(`part ${partNumber} is not the bytes that were hashed: was the file changed?`)
    }
    const done = new Set(this.#fileByImagestoreId(fileId).imagestoreDoneParts || [])
    const wanted = [partNumber]
    for (let n = partNumber + 1; n <= multipart.partCount && wanted.length < 100; n++) {
      if (!done.has(n)) wanted.push(n)
    }
    /** @type {import('./api.js').Schemas['SignedParts']} */
    const signed = await this.api.request('POST', `/multipart-uploads/${encodeURIComponent(fileId)}/parts`, {
      body: { parts: wanted.map((n) => ({ partNumber: n, sha256: hashes[n - 1] })) },
      signal,
    })
    const byNumber = new Map(signed.parts.map((p) => [p.partNumber, { ...p, expiresAt: signed.expiresAt }]))
    this.signedParts.set(fileId, byNumber)
    return byNumber.get(partNumber)
  }

  /** @param {import('@uppy/aws-s3/lib/s3-client/types.js').ListPartsParams} params (Uppy's) */
  async listParts({ uploadId, signal }) {
    /** @type {import('./api.js').Schemas['MultipartPartsView']} */
    const view = await this.api.request('GET', `/multipart-uploads/${encodeURIComponent(uploadId)}/parts`, {
      signal,
    })
    const file = this.#fileByImagestoreId(uploadId)
    this.uppy.setFileState(file.id, { imagestoreDoneParts: view.parts.map((p) => p.partNumber) })
    return view.parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag }))
  }

  /** @param {import('@uppy/aws-s3/lib/s3-client/types.js').CompleteMultipartUploadParams} params (Uppy's) */
  async completeMultipartUpload({ uploadId, parts, signal }) {
    /** @type {import('./api.js').Schemas['FileView']} */
    const view = await this.api.request(
      'POST',
      `/multipart-uploads/${encodeURIComponent(uploadId)}/complete`,
      {
        body: { parts: parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag })) },
        signal,
      },
    )
    this.signedParts.delete(uploadId)
    const file = this.#fileByImagestoreId(uploadId)
    this.uppy.setFileMeta(file.id, { imagestoreStatus: view.status })
    this.uppy.emit('imagestore:file-completed', this.uppy.getFile(file.id), view)
    return { location: view.downloadUrl || '', bucket: undefined, key: uploadId }
  }

  /** @param {import('@uppy/aws-s3/lib/s3-client/types.js').AbortMultipartUploadParams} params (Uppy's) */
  async abortMultipartUpload({ uploadId, signal }) {
    this.signedParts.delete(uploadId)
    await this.api.request('DELETE', `/multipart-uploads/${encodeURIComponent(uploadId)}`, { signal })
  }
}
