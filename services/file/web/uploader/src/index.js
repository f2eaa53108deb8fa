// The imagestore uploader: Uppy (core, Dashboard, AWS S3, Golden Retriever) wired to imagestore's API.
//
//   const { uppy } = createUploader({ apiBase, token, target: '#uploader' })
//
// - Before any byte is sent (an Uppy preprocessor): each file's SHA-256 (and each part's, for a multipart
//   file), then its ticket: small files 100 to a requestUploads call, files above multipartThresholdBytes
//   a createMultipartUpload each. A file the user already has (same SHA-256) is answered by the API at
//   once: it is marked uploaded, nothing is sent (file.meta.imagestoreDuplicate).
// - The bytes (@uppy/aws-s3 with imagestore's S3 client): a presigned POST per small file, the parts of a
//   large one (signed with their SHA-256, which S3 verifies), `limit` files at a time, progress in the
//   Dashboard.
// - After the bytes (an Uppy postprocessor): completeUploads, 100 files a call; a multipart file is completed
//   by its own completeMultipartUpload. Each file then has meta.imagestoreFileId and imagestoreStatus.
// - A page reload: Golden Retriever restores the files (their bytes from IndexedDB) and the upload's state;
//   the upload resumes (resumeAfterReload) where it was: a multipart file lists its parts and sends only
//   the missing ones; a small file in flight is sent again with its ticket.
import AwsS3 from '@uppy/aws-s3'
import Uppy from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import GoldenRetriever from '@uppy/golden-retriever'
import { ImagestoreApi, ImagestoreApiError, MiB, partSizeFor, sha256Base64 } from './api.js'
import { registerInstance, unregisterInstance } from './imagestore-s3-client.js'

export { ImagestoreApi, ImagestoreApiError, partSizeFor, sha256Base64 }

export const BATCH = 100 // requestUploads and completeUploads take up to 100 files

const defaults = {
  multipartThresholdBytes: 10 * MiB,
  limit: 6,
  resumeAfterReload: true,
  allowedFileTypes: ['image/*'],
  dashboard: {},
  // Golden Retriever keeps the files' bytes in IndexedDB so that a reload can resume them.
  indexedDB: { maxFileSize: 200 * MiB, maxTotalSize: 4096 * MiB },
}

let instanceCount = 0

/**
 * @param {object} options
 * @param {string} options.apiBase the File API's base URL
 * @param {string | (() => string | Promise<string>)} options.token the user's JWT (or a function giving it)
 * @param {string | HTMLElement} [options.target] where the Dashboard goes (none: no Dashboard)
 * @param {string} [options.id] Uppy's id: Golden Retriever's storage is per id
 */
export function createUploader(options) {
  const opts = { ...defaults, ...options }
  const api = new ImagestoreApi({ apiBase: opts.apiBase, token: opts.token })
  const uppy = new Uppy({
    id: opts.id || 'imagestore',
    autoProceed: false,
    restrictions: { allowedFileTypes: opts.allowedFileTypes },
    meta: {},
  })
  const name = `imagestore-uploader-${++instanceCount}`
  registerInstance(name, { api, uppy })

  if (opts.target) {
    uppy.use(Dashboard, {
      target: opts.target,
      inline: true,
      height: 420,
      fileManagerSelectionType: 'both', // files and folders
      proudlyDisplayPoweredByUppy: false,
      ...opts.dashboard,
    })
  }
  // IndexedDBStore reads maxFileSize and maxTotalSize; Uppy's types declare only name and version.
  uppy.use(GoldenRetriever, { indexedDB: /** @type {any} */ (opts.indexedDB) })
  uppy.use(AwsS3, {
    companionEndpoint: name, // names this instance for imagestore's S3 client (build.mjs)
    limit: opts.limit,
    shouldUseMultipart: (file) => Boolean(file.meta.imagestoreMultipart),
    getChunkSize: ({ size }) => partSizeFor(size),
  })
  uppy.addPreProcessor((fileIDs, uploadID) => prepare(uppy, api, opts, fileIDs, uploadID))
  uppy.addPostProcessor((fileIDs) => completeAll(uppy, api, fileIDs))

  if (opts.resumeAfterReload) {
    // Golden Retriever restored an unfinished upload: go on with it once every file's bytes are back.
    uppy.on('restored', () => {
      const { recoveredState, files } = uppy.getState()
      if (recoveredState && !Object.values(files).some((f) => f.isGhost)) uppy.emit('restore-confirmed')
    })
  }
  return {
    uppy,
    api,
    destroy() {
      unregisterInstance(name)
      uppy.destroy()
    },
  }
}

function fail(uppy, fileID, error) {
  const file = uppy.getFile(fileID)
  if (file) uppy.emit('upload-error', file, error)
}

/** Checksums and tickets for the files of an upload that have none yet (run again after a reload
 * that came before the upload's bytes: files already prepared are skipped). */
async function prepare(uppy, api, opts, fileIDs, uploadID) {
  const todo = fileIDs
    .map((id) => uppy.getFile(id))
    .filter((f) => f && !f.error && !f.progress.uploadComplete && !f.meta.imagestoreFileId)
  let hashed = 0
  for (const file of todo) {
    uppy.emit('preprocess-progress', file, {
      mode: 'determinate',
      message: 'Computing checksums',
      value: hashed / todo.length,
    })
    const buffer = await file.data.arrayBuffer()
    const meta = { sha256: await sha256Base64(buffer), imagestoreSizeBytes: buffer.byteLength }
    if (buffer.byteLength > opts.multipartThresholdBytes) {
      const partSize = partSizeFor(buffer.byteLength)
      const hashes = []
      for (let start = 0; start < buffer.byteLength; start += partSize) {
        hashes.push(await sha256Base64(buffer.slice(start, Math.min(start + partSize, buffer.byteLength))))
      }
      meta.imagestorePartSha256 = hashes
    }
    uppy.setFileMeta(file.id, meta)
    hashed += 1
  }
  const prepared = todo.map((f) => uppy.getFile(f.id))
  const small = prepared.filter((f) => !f.meta.imagestorePartSha256)
  const large = prepared.filter((f) => f.meta.imagestorePartSha256)
  for (let start = 0; start < small.length; start += BATCH) {
    await requestTickets(uppy, api, small.slice(start, start + BATCH), uploadID)
  }
  for (const file of large) await createMultipart(uppy, api, file, uploadID)
  for (const file of prepared) {
    const current = uppy.getFile(file.id)
    if (current) uppy.emit('preprocess-complete', current)
  }
}

function describe(file) {
  return {
    filename: file.name.slice(0, 255),
    contentType: file.type || 'application/octet-stream',
    sizeBytes: file.meta.imagestoreSizeBytes,
    sha256: file.meta.sha256,
  }
}

/** One requestUploads call; its Idempotency-Key is made of the files' ids, so the same call sent again
 * (a reload before its answer was kept) is answered with the same tickets. */
async function requestTickets(uppy, api, files, uploadID) {
  const key = `uppy-tickets-${await sha256Hex(`${uploadID}|${files.map((f) => f.id).join('|')}`)}`
  /** @type {import('./api.js').Schemas['UploadBatchResult']} */
  let answer
  try {
    answer = await api.request('POST', '/upload-batches', {
      body: { files: files.map(describe) },
      idempotencyKey: key,
    })
  } catch (error) {
    for (const file of files) fail(uppy, file.id, error)
    return
  }
  for (const item of answer.items) {
    const file = files[item.index]
    if (item.status >= 400 || !item.ticket) {
      fail(uppy, file.id, new ImagestoreApiError(item.status, { error: item.error }))
      continue
    }
    const ticket = item.ticket
    if (ticket.duplicate) {
      markDuplicate(uppy, file.id, ticket)
      continue
    }
    uppy.setFileMeta(file.id, { imagestoreFileId: ticket.fileId, imagestoreUpload: ticket.upload })
  }
}

async function createMultipart(uppy, api, file, uploadID) {
  const partSizeBytes = partSizeFor(file.meta.imagestoreSizeBytes)
  /** @type {import('./api.js').Schemas['MultipartTicket']} */
  let ticket
  try {
    ticket = await api.request('POST', '/multipart-uploads', {
      body: { ...describe(file), partSizeBytes },
      idempotencyKey: `uppy-multipart-${await sha256Hex(`${uploadID}|${file.id}`)}`,
    })
  } catch (error) {
    fail(uppy, file.id, error)
    return
  }
  if (ticket.duplicate) {
    markDuplicate(uppy, file.id, ticket)
    return
  }
  if (ticket.partSizeBytes !== partSizeBytes) {
    fail(uppy, file.id, new Error(`the API chose ${ticket.partSizeBytes}-byte parts, not ${partSizeBytes}`))
    return
  }
  uppy.setFileMeta(file.id, {
    imagestoreFileId: ticket.fileId,
    imagestoreMultipart: {
      partSizeBytes: ticket.partSizeBytes,
      partCount: ticket.partCount,
      partSha256: file.meta.imagestorePartSha256,
    },
  })
}

/** The user already has these bytes: that file is the answer, nothing is sent. */
function markDuplicate(uppy, fileID, ticket) {
  uppy.setFileMeta(fileID, {
    imagestoreFileId: ticket.fileId,
    imagestoreDuplicate: true,
    imagestoreStatus: ticket.file ? ticket.file.status : 'available',
  })
  const file = uppy.getFile(fileID)
  uppy.emit('upload-success', file, {
    status: 200,
    body: { fileId: ticket.fileId, duplicate: true },
    uploadURL: ticket.file ? ticket.file.downloadUrl : undefined,
  })
  uppy.emit('imagestore:file-completed', uppy.getFile(fileID), ticket.file)
}

/** completeUploads for the files whose bytes were sent (100 a call); an item answered 409 (the bytes not
 * seen yet) or 5xx is asked again, up to 3 times. */
async function completeAll(uppy, api, fileIDs) {
  const pending = fileIDs
    .map((id) => uppy.getFile(id))
    .filter(
      (f) =>
        f &&
        !f.error &&
        f.progress.uploadComplete &&
        f.meta.imagestoreFileId &&
        !f.meta.imagestoreMultipart &&
        !f.meta.imagestoreDuplicate &&
        f.meta.imagestoreStatus !== 'available',
    )
  for (const file of pending) {
    uppy.emit('postprocess-progress', file, { mode: 'indeterminate', message: 'Verifying' })
  }
  let todo = pending.map((f) => f.id)
  for (let attempt = 1; todo.length > 0 && attempt <= 3; attempt++) {
    const again = []
    for (let start = 0; start < todo.length; start += BATCH) {
      const chunk = todo.slice(start, start + BATCH)
      const ids = chunk.map((id) => uppy.getFile(id).meta.imagestoreFileId)
      /** @type {import('./api.js').Schemas['CompleteBatchResult']} */
      let answer
      try {
        answer = await api.request('POST', '/upload-batches/complete', { body: { fileIds: ids } })
      } catch (error) {
        if (attempt < 3 && (!(error instanceof ImagestoreApiError) || error.status >= 500)) again.push(...chunk)
        else for (const id of chunk) fail(uppy, id, error)
        continue
      }
      for (const item of answer.items) {
        const id = chunk[item.index]
        if (item.status === 200 && item.file) {
          uppy.setFileMeta(id, { imagestoreStatus: item.file.status })
          uppy.emit('imagestore:file-completed', uppy.getFile(id), item.file)
        } else if (attempt < 3 && (item.status === 409 || item.status >= 500)) {
          again.push(id)
        } else {
          fail(uppy, id, new ImagestoreApiError(item.status, { error: item.error }))
        }
      }
    }
    todo = again
    if (todo.length > 0) await new Promise((resolve) => setTimeout(resolve, 1000 * attempt))
  }
  for (const file of pending) {
    const current = uppy.getFile(file.id)
    if (current) uppy.emit('postprocess-complete', current)
  }
}

async function sha256Hex(text) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}
