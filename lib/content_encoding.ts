/**
 * Content-encoding of response bodies. DVDs keep wire bytes; Python dvd-rw keeps decoded bodies.
 * These helpers decode a wire body when a format needs the decoded form.
 */
import zlib from 'node:zlib'
import { type DVDResponse, headerValue, withoutHeaders } from './model.js'

const decoders: Record<string, (bytes: Uint8Array) => Buffer> = {
  gzip: (b) => zlib.gunzipSync(b),
  'x-gzip': (b) => zlib.gunzipSync(b),
  br: (b) => zlib.brotliDecompressSync(b),
  deflate: (b) => {
    // Servers send "deflate" both zlib-wrapped (as the RFC says) and raw; accept both.
    try {
      return zlib.inflateSync(b)
    } catch {
      return zlib.inflateRawSync(b)
    }
  },
}

/** The content codings applied to a response body, in the order they were applied. */
export function contentCodings(response: DVDResponse): string[] {
  const header = headerValue(response.headers, 'content-encoding')
  if (!header) return []
  return header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity')
}

/**
 * The decoded body of a response whose body holds wire bytes, or `undefined` when the body is not
 * encoded, already decoded, or uses a coding this Node cannot decode.
 */
export function decodedBody(response: DVDResponse): Buffer | undefined {
  if (response.bodyDecoded || !response.body || response.body.length === 0) return undefined
  const codings = contentCodings(response)
  if (codings.length === 0) return undefined
  let bytes: Uint8Array = response.body
  try {
    for (const coding of codings.reverse()) {
      const decode = decoders[coding]
      if (!decode) return undefined
      bytes = decode(bytes)
    }
  } catch {
    return undefined
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

const ENCODING_HEADERS = new Set(['content-encoding', 'content-length'])

/**
 * The same response with its body decoded and its headers telling the truth about it: no
 * content-encoding, content-length of the decoded body. Unchanged when nothing needs decoding.
 */
export function withDecodedBody(response: DVDResponse): DVDResponse {
  const decoded = response.bodyDecoded ? (response.body ?? new Uint8Array(0)) : decodedBody(response)
  if (!decoded) return response
  const headers = withoutHeaders(response.headers, ENCODING_HEADERS)
  headers.push(['content-length', String(decoded.length)])
  // Recorded chunks cut the wire bytes, not the decoded ones.
  const { bodyDecoded: _dropped, chunks: _wireChunks, ...rest } = response
  return { ...rest, headers, body: decoded }
}
