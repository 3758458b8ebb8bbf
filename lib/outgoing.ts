/**
 * Outgoing requests as undici dispatch options describe them → the model's {@link DVDRequest}.
 * Bodies of every kind undici accepts (string, bytes, Blob, FormData, streams, iterables) become
 * bytes, so they can be matched, recorded and sent on unchanged.
 */

import { type DVDRequest, type HeaderPair, headerValue } from './model.js'
import { boundaryOf, encodeFormData, newBoundary } from './multipart.js'

type HeaderInput =
  | null
  | undefined
  | readonly (string | Buffer)[]
  | readonly (readonly [string, string])[]
  | Iterable<readonly [string, string]>
  | Record<string, string | string[] | number | undefined>

const asText = (value: unknown): string =>
  Buffer.isBuffer(value) ? value.toString('latin1') : Array.isArray(value) ? value.join(', ') : String(value)

/** Any header form undici accepts → ordered name/value pairs. */
export function toHeaderPairs(headers: HeaderInput): HeaderPair[] {
  const pairs: HeaderPair[] = []
  if (headers == null) return pairs
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const [name, value] of headers as [string, string][]) pairs.push([String(name), asText(value)])
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([asText(headers[i]), asText(headers[i + 1])])
    }
    return pairs
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, string]>)
      pairs.push([String(name), asText(value)])
    return pairs
  }
  // fetch hands every request's headers over as a plain object of strings: no entries() arrays.
  const record = headers as Record<string, unknown>
  for (const name of Object.keys(record)) {
    const value = record[name]
    if (value === undefined) continue
    if (typeof value === 'string') pairs.push([name, value])
    else if (Array.isArray(value)) for (const v of value) pairs.push([name, asText(v)])
    else pairs.push([name, asText(value)])
  }
  return pairs
}

/** Pairs → the flat `[name, value, …]` array that every undici version accepts as `headers`. */
export function toFlatHeaders(pairs: readonly HeaderPair[]): string[] {
  const flat: string[] = []
  for (const [name, value] of pairs) flat.push(name, value)
  return flat
}

/** Pairs → raw header buffers, as a dispatcher hands them to `onHeaders`. */
export function toRawHeaders(pairs: readonly HeaderPair[]): Buffer[] {
  const raw: Buffer[] = []
  for (const [name, value] of pairs) raw.push(Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1'))
  return raw
}

/** Raw header buffers → pairs, bytes kept exactly (latin1 maps each byte to one character). */
export function fromRawHeaders(raw: readonly Buffer[] | null | undefined): HeaderPair[] {
  const pairs: HeaderPair[] = []
  if (!raw) return pairs
  for (let i = 0; i + 1 < raw.length; i += 2)
    pairs.push([raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1')])
  return pairs
}

function isFormDataLike(body: object): boolean {
  const b = body as { [Symbol.toStringTag]?: string; append?: unknown; getAll?: unknown }
  return (
    b[Symbol.toStringTag] === 'FormData' && typeof b.append === 'function' && typeof b.getAll === 'function'
  )
}

function isBlobLike(body: object): body is Blob {
  const tag = (body as { [Symbol.toStringTag]?: string })[Symbol.toStringTag]
  return (tag === 'Blob' || tag === 'File') && typeof (body as Blob).arrayBuffer === 'function'
}

async function collect(chunks: AsyncIterable<unknown> | Iterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of chunks) {
    if (typeof chunk === 'string') parts.push(Buffer.from(chunk))
    else if (ArrayBuffer.isView(chunk))
      parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    else if (chunk instanceof ArrayBuffer) parts.push(Buffer.from(chunk))
    else throw new TypeError(`request body chunk of unsupported type ${typeof chunk}`)
  }
  return Buffer.concat(parts)
}

/** A request body read to the end, and the content type it implies (FormData's multipart boundary). */
export interface ReadBody {
  bytes: Buffer | null
  contentType?: string
}

const NO_BODY: ReadBody = Object.freeze({ bytes: null })

/** Whether a body needs no reading: none, a string, bytes (what {@link readRequestBodyNow} takes). */
export function isBodyInMemory(body: unknown): boolean {
  return body == null || typeof body === 'string' || ArrayBuffer.isView(body) || body instanceof ArrayBuffer
}

/**
 * The body as bytes when it is already in memory (none, a string, bytes); `undefined` when it must
 * be read with {@link readRequestBody}.
 */
export function readRequestBodyNow(body: unknown): ReadBody | undefined {
  let bytes: Buffer
  if (body == null) return NO_BODY
  if (typeof body === 'string') bytes = Buffer.from(body)
  else if (ArrayBuffer.isView(body)) bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  else if (body instanceof ArrayBuffer) bytes = Buffer.from(body)
  else return undefined
  return bytes.length > 0 ? { bytes } : NO_BODY
}

/** Reads any body undici accepts into bytes; `null` for no body or an empty one. */
export async function readRequestBody(body: unknown, requestHeaders?: unknown): Promise<ReadBody> {
  const now = readRequestBodyNow(body)
  if (now) return now
  let bytes: Buffer
  let contentType: string | undefined
  if (typeof body !== 'object' || body === null)
    throw new TypeError(`request body of unsupported type ${typeof body}`)
  else if (isFormDataLike(body)) {
    // fetch has already announced a boundary in the content-type header (undici.request leaves
    // that to the body writer): encode with it, so the recorded bytes are those that go out.
    const announced = boundaryOf(headerValue(toHeaderPairs(requestHeaders as HeaderInput), 'content-type'))
    const boundary = announced ?? newBoundary()
    bytes = await encodeFormData(body as unknown as Iterable<[string, string | Blob]>, boundary)
    if (!announced) contentType = `multipart/form-data; boundary=${boundary}`
  } else if (isBlobLike(body)) {
    bytes = Buffer.from(await body.arrayBuffer())
    if (body.type) contentType = body.type
  } else if (Symbol.asyncIterator in body || Symbol.iterator in body) {
    bytes = await collect(body as AsyncIterable<unknown>)
  } else throw new TypeError('request body of unsupported type object')
  return { bytes: bytes.length > 0 ? bytes : null, ...(contentType ? { contentType } : {}) }
}

/** The absolute URL of a dispatch: `origin` + `path` (never resolving `//x` paths as hosts). */
export function requestUrl(origin: string | URL, path: string): string {
  // fetch hands over `url.origin`, already normalized: join it without parsing twice.
  if (typeof origin === 'string' && /^https?:\/\/[a-z0-9.:[\]-]+$/.test(origin) && /^\/(?!\/)/.test(path)) {
    return origin + path
  }
  const base = typeof origin === 'string' ? new URL(origin).origin : origin.origin
  return new URL(`${base}${path.startsWith('/') ? path : `/${path}`}`).href
}

/** Dispatch options as {@link toDVDRequest} reads them. */
interface DispatchLike {
  origin?: string | URL
  path: string
  method?: string
  headers?: unknown
  body?: unknown
}

/**
 * An outgoing request as dispatch options describe it. Each field is computed when first read: a
 * replay that the native reader keys from the dispatch parts reads none of them, and one that
 * matches on the method and URL never turns the headers into pairs. It stays inside dvd-rw (the DVD
 * hands hooks and files plain copies, see `DVD.prepare`), since its fields are accessors that a
 * spread would not copy.
 */
class OutgoingRequest implements DVDRequest {
  readonly #opts: DispatchLike
  /** The body as read, or `undefined` until read from `opts.body` (which is then in memory). */
  #read: ReadBody | undefined
  #method: string | undefined
  #url: string | undefined
  #headers: HeaderPair[] | undefined

  constructor(opts: DispatchLike, read: ReadBody | undefined) {
    this.#opts = opts
    this.#read = read
  }

  get method(): string {
    this.#method ??= (this.#opts.method ?? 'GET').toUpperCase()
    return this.#method
  }

  get url(): string {
    this.#url ??= requestUrl(this.#opts.origin ?? 'http://localhost', this.#opts.path)
    return this.#url
  }

  get body(): Buffer | null {
    return this.#body().bytes
  }

  #body(): ReadBody {
    this.#read ??= readRequestBodyNow(this.#opts.body) ?? NO_BODY
    return this.#read
  }

  get headers(): HeaderPair[] {
    if (this.#headers) return this.#headers
    const pairs = toHeaderPairs(this.#opts.headers as HeaderInput)
    const type = this.#body().contentType
    if (type && !pairs.some(([name]) => name.toLowerCase() === 'content-type')) {
      pairs.push(['content-type', type])
    }
    this.#headers = pairs
    return pairs
  }

  set headers(value: HeaderPair[]) {
    this.#headers = value
  }
}

/**
 * Builds the model request from dispatch options: with the body as read by
 * {@link readRequestBody}, or without when it is in memory ({@link isBodyInMemory}), read then
 * only if asked for.
 */
export function toDVDRequest(opts: DispatchLike, body?: ReadBody): DVDRequest {
  return new OutgoingRequest(opts, body)
}
