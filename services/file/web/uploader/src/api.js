// The imagestore API over fetch: the caller's bearer token, JSON in and out, the API's error body kept.

export class ImagestoreApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {}
    super(error.message || `imagestore answered ${status}`)
    this.name = 'ImagestoreApiError'
    this.status = status
    this.code = error.code
    this.details = error.details
  }
}

export class ImagestoreApi {
  /** @param {{apiBase: string, token: string | (() => string | Promise<string>)}} options */
  constructor({ apiBase, token }) {
    this.apiBase = apiBase.replace(/\/+$/, '')
    this.token = token
    /** Every API call made, for progress displays and tests: [method, path]. */
    this.calls = []
  }

  async request(method, path, { body, idempotencyKey, signal } = {}) {
    const token = typeof this.token === 'function' ? await this.token() : this.token
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey
    this.calls.push([method, path])
    const response = await fetch(this.apiBase + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    })
    const text = await response.text()
    let parsed = null
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      parsed = null
    }
    if (!response.ok) throw new ImagestoreApiError(response.status, parsed)
    return parsed
  }
}

/** SHA-256 of a Blob (or ArrayBuffer), base64, as S3's x-amz-checksum-sha256. */
export async function sha256Base64(data) {
  const buffer = data instanceof ArrayBuffer ? data : await data.arrayBuffer()
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer))
  let binary = ''
  for (const byte of digest) binary += String.fromCharCode(byte)
  return btoa(binary)
}

export const MiB = 1024 * 1024

/** The part size of a multipart upload: 8 MiB, raised so that a file has at most 1,000 parts (S3's limit
 * with checksums, as the API computes it). The API is asked for exactly this size, and Uppy cuts the
 * file with it. */
export function partSizeFor(sizeBytes) {
  return Math.max(8 * MiB, Math.ceil(sizeBytes / 1000))
}
