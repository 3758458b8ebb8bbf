/**
 * HAR 1.2 DVDs (`*.har`): the format of browsers' devtools, Playwright, Polly.js and proxies.
 * `{"log": {"entries": [...]}}`, one entry per request in recording order.
 *
 * HAR keeps the decoded body in `content.text` (base64 with `encoding: "base64"` when it is not
 * UTF-8 text). What HAR has no field for rides in `_dvd`-prefixed fields other tools ignore:
 * - `response.content._dvdWireBody`: the body as it came off the wire (base64) when it differs
 *   from the decoded text, i.e. a compressed body;
 * - `response.content._dvdChunks`: how a streamed body arrived (as in JSON DVDs' `chunks`);
 * - entry `_dvdError`: a recorded network error (the object JSON DVDs store), with `response.status` 0.
 *
 * Reading accepts what Chrome, Firefox, Playwright (`embed`, and `attach` with `_file`) and
 * Polly.js write. Entries a DVD cannot hold (WebSocket sessions, aborted or blocked requests,
 * which have status 0) are skipped and counted.
 */
import { readFileSync } from 'node:fs'
import { STATUS_CODES } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { contentCodings, decodedBody, withDecodedBody } from '../content_encoding.js'
import type { DVDRequest, DVDResponse, HeaderPair, RecordedError, Recording } from '../model.js'
import { bodyChunks, headerValue, isRecordedError } from '../model.js'
import { count } from '../plural.js'
import { chunksFromJson, chunksToJson } from './body_chunks.js'
import { markDecoded, type Obj, ownReason, ShapeReader } from './foreign.js'
import { describe, parseRecordedError, recordedErrorJson } from './json.js'
import { layOut, type TextLayout } from './text_layout.js'

const VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version

/**
 * `startedDateTime` of the first entry; each next entry is one millisecond later. DVDs keep no
 * wall-clock times, and a fixed origin makes saving the same recordings give the same file.
 */
const FIRST_START = Date.UTC(2000, 0, 1)

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The body as UTF-8 text, or `undefined` when it is not valid UTF-8. */
function asText(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

const toBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')

// ---------------------------------------------------------------- reading

/** Why an entry was left out of the DVD. */
export type SkipReason = 'websocket' | 'aborted'

/** Checks HAR entries and turns them into recordings; every problem names the file and the place. */
export class HarEntryReader extends ShapeReader {
  readonly #dir: string

  constructor(file: string) {
    super(file)
    this.#dir = dirname(resolve(file))
  }

  headers(value: unknown, at: string): HeaderPair[] {
    if (!Array.isArray(value))
      this.fail(at, `expected a list of {name, value} objects, found ${describe(value)}`)
    const headers: HeaderPair[] = []
    value.forEach((item, i) => {
      const o = this.object(item, `${at}[${i}]`)
      const name = this.string(o.name, `${at}[${i}].name`)
      const headerValue = this.string(o.value, `${at}[${i}].value`)
      // HTTP/2 pseudo-headers (`:authority`, `:status`) that Chrome lists are not headers to replay.
      if (!name.startsWith(':')) headers.push([name, headerValue])
    })
    return headers
  }

  /** Bytes of a `content` or `postData` object: `text` (maybe base64), or Playwright's `_file`. */
  bytes(o: Obj, at: string): Buffer | null {
    if (o._file !== undefined) return this.#attached(this.string(o._file, `${at}._file`), `${at}._file`)
    if (o.text === undefined || o.text === null) return null
    const text = this.string(o.text, `${at}.text`)
    if (o.encoding === undefined || o.encoding === null || o.encoding === '') return Buffer.from(text)
    if (o.encoding !== 'base64') this.fail(`${at}.encoding`, `unsupported encoding ${describe(o.encoding)}`)
    return this.base64(text, `${at}.text`)
  }

  /** A body Playwright stored beside the HAR; only files inside the HAR's directory are read. */
  #attached(name: string, at: string): Buffer {
    const path = resolve(this.#dir, name)
    const inside = relative(this.#dir, path)
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
      this.fail(at, `"${name}" is outside the HAR file's directory`)
    }
    try {
      return readFileSync(path)
    } catch (cause) {
      this.fail(at, `cannot read the attached body "${name}" (${(cause as Error).message})`)
    }
  }

  request(value: unknown, at: string): DVDRequest {
    const o = this.object(value, at)
    const request: DVDRequest = {
      method: this.method(o.method, `${at}.method`),
      url: this.url(o.url, `${at}.url`),
      headers: this.headers(o.headers, `${at}.headers`),
    }
    if (o.postData !== undefined && o.postData !== null) {
      const body = this.#postData(this.object(o.postData, `${at}.postData`), `${at}.postData`)
      if (body && body.length > 0) request.body = body
    }
    return request
  }

  #postData(o: Obj, at: string): Buffer | null {
    const body = this.bytes(o, at)
    if (body !== null || !Array.isArray(o.params)) return body
    // Only form fields, no text: rebuild the urlencoded body they came from.
    const form = new URLSearchParams()
    o.params.forEach((param, i) => {
      const p = this.object(param, `${at}.params[${i}]`)
      form.append(
        this.string(p.name, `${at}.params[${i}].name`),
        p.value === undefined ? '' : this.string(p.value, `${at}.params[${i}].value`),
      )
    })
    return Buffer.from(form.toString())
  }

  response(value: unknown, at: string): DVDResponse {
    const o = this.object(value, at)
    const status = this.status(o.status, `${at}.status`)
    const headers = this.headers(o.headers, `${at}.headers`)
    const content = this.object(o.content, `${at}.content`)
    const body = this.bytes(content, `${at}.content`)
    const response: DVDResponse = { status, headers, body }
    if (content._dvdWireBody !== undefined) {
      response.body = this.base64(content._dvdWireBody, `${at}.content._dvdWireBody`)
    } else markDecoded(response)
    if (content._dvdChunks !== undefined) {
      const chunks = chunksFromJson(content._dvdChunks, response.body?.length ?? 0)
      if (typeof chunks === 'string') this.fail(`${at}.content._dvdChunks`, chunks)
      response.chunks = chunks
    }
    if (o.statusText !== undefined && o.statusText !== null) {
      const statusText = ownReason(status, this.string(o.statusText, `${at}.statusText`))
      if (statusText !== undefined) response.statusText = statusText
    }
    return response
  }

  /** Why this entry cannot be a recording, or `undefined` when it can. */
  skipReason(entry: Obj, at: string): SkipReason | undefined {
    const request = this.object(entry.request, `${at}.request`)
    if (
      entry._webSocketMessages !== undefined ||
      entry._resourceType === 'websocket' ||
      (typeof request.url === 'string' && /^wss?:/i.test(request.url))
    ) {
      return 'websocket'
    }
    if (entry._dvdError !== undefined) return undefined
    const response = this.object(entry.response, `${at}.response`)
    return response.status === 0 ? 'aborted' : undefined
  }

  /** The recording of `log.entries[index]`, or the reason it is skipped. */
  entry(value: unknown, index: number): Recording | SkipReason {
    const at = `log.entries[${index}]`
    const o = this.object(value, at)
    const skip = this.skipReason(o, at)
    if (skip) return skip
    const request = this.request(o.request, `${at}.request`)
    if (o._dvdError !== undefined) {
      return { request, outcome: parseRecordedError(o._dvdError, `${at}._dvdError`, this.file, request) }
    }
    return { request, outcome: this.response(o.response, `${at}.response`) }
  }
}

/** Counts entries left out of a DVD, for one warning per file. */
export class SkippedEntries {
  websocket = 0
  aborted = 0

  add(reason: SkipReason): void {
    this[reason]++
  }

  get total(): number {
    return this.websocket + this.aborted
  }

  /** The warning for `file`, or `undefined` when nothing was skipped. */
  warning(file: string): string | undefined {
    if (this.total === 0) return undefined
    const parts: string[] = []
    if (this.websocket) parts.push(`${this.websocket} WebSocket`)
    if (this.aborted) parts.push(`${this.aborted} aborted or blocked (status 0)`)
    return `${file}: skipped ${count(this.total, 'HAR entry', 'HAR entries')} a DVD cannot replay: ${parts.join(', ')}`
  }
}

// ---------------------------------------------------------------- writing

function harHeaders(headers: readonly HeaderPair[]): Obj[] {
  return headers.map(([name, value]) => ({ name, value }))
}

function queryString(url: string): Obj[] {
  try {
    return [...new URL(url).searchParams].map(([name, value]) => ({ name, value }))
  } catch {
    return []
  }
}

function harRequest(request: DVDRequest): Obj {
  const body = request.body && request.body.length > 0 ? request.body : undefined
  const o: Obj = {
    method: request.method,
    url: request.url,
    httpVersion: 'HTTP/1.1',
    cookies: [],
    headers: harHeaders(request.headers),
    queryString: queryString(request.url),
    headersSize: -1,
    bodySize: body?.length ?? 0,
  }
  if (body) {
    const mimeType = headerValue(request.headers, 'content-type') ?? 'application/octet-stream'
    const text = asText(body)
    o.postData =
      text !== undefined ? { mimeType, text } : { mimeType, text: toBase64(body), encoding: 'base64' }
  }
  return o
}

function harResponse(response: DVDResponse, url: string): Obj {
  const wire = response.body
  const decoded = response.bodyDecoded ? wire : (decodedBody(response) ?? wire)
  const content: Obj = {
    size: decoded?.length ?? 0,
    mimeType: headerValue(response.headers, 'content-type') ?? 'x-unknown',
  }
  if (decoded) {
    const text = asText(decoded)
    if (text !== undefined) content.text = text
    else {
      content.text = toBase64(decoded)
      content.encoding = 'base64'
    }
  }
  if (wire && decoded !== wire) content.compression = decoded!.length - wire.length
  // Wire bytes that differ from the text, or that a reader would otherwise take for decoded
  // text (a coding this Node cannot decode).
  if (wire && !response.bodyDecoded && (decoded !== wire || contentCodings(response).length > 0)) {
    content._dvdWireBody = toBase64(wire)
  }
  const chunks = bodyChunks(response)
  if (chunks) content._dvdChunks = chunksToJson(chunks)
  return {
    status: response.status,
    statusText: response.statusText ?? STATUS_CODES[response.status] ?? '',
    httpVersion: 'HTTP/1.1',
    cookies: [],
    headers: harHeaders(response.headers),
    content,
    redirectURL: redirectTarget(headerValue(response.headers, 'location'), url),
    headersSize: -1,
    // The wire length is unknown when only the decoded body was kept.
    bodySize: response.bodyDecoded ? -1 : (wire?.length ?? 0),
  }
}

/** The absolute URL a `location` header points to, as browsers write `redirectURL`. */
function redirectTarget(location: string | undefined, url: string): string {
  if (location === undefined) return ''
  try {
    return new URL(location, url).href
  } catch {
    return location
  }
}

/** What a failed request looks like in HAR: status 0, as browsers write aborted requests. */
function failedResponse(error: RecordedError): Obj {
  return {
    status: 0,
    statusText: '',
    httpVersion: '',
    cookies: [],
    headers: [],
    content: { size: 0, mimeType: 'x-unknown' },
    redirectURL: '',
    headersSize: -1,
    bodySize: -1,
    _error: error.message,
  }
}

/** The HAR entry of the recording at position `index` (which sets its `startedDateTime`). */
export function harEntryJson(recording: Recording, index: number, options: HarWriteOptions = {}): string {
  const { request, outcome } = recording
  const failed = isRecordedError(outcome)
  const response = failed || !options.decodeCompressed ? outcome : withDecodedBody(outcome)
  const entry: Obj = {
    startedDateTime: new Date(FIRST_START + index).toISOString(),
    time: 0,
    request: harRequest(request),
    response: isRecordedError(response) ? failedResponse(response) : harResponse(response, request.url),
    cache: {},
    timings: { blocked: -1, dns: -1, connect: -1, send: 0, wait: 0, receive: 0, ssl: -1 },
  }
  if (failed) entry._dvdError = recordedErrorJson(outcome)
  return JSON.stringify(entry, null, 2).replace(/\n/g, '\n    ')
}

/** Options of {@link serializeHar}. */
export interface HarWriteOptions {
  /**
   * Keep compressed bodies decoded only, with `content-encoding` removed and `content-length`
   * fixed, and no wire bytes in `_dvdWireBody`.
   */
  decodeCompressed?: boolean
}

/** How a HAR file is laid out: `log` with its version and creator, then the entries. */
export function harLayout(options: HarWriteOptions = {}): TextLayout {
  return {
    head: `{\n  "log": {\n    "version": "1.2",\n    "creator": { "name": "dvd-rw", "version": ${JSON.stringify(VERSION)} },\n    "pages": [],\n    "entries": [`,
    item: (recording, index) =>
      `${index === 0 ? '\n    ' : ',\n    '}${harEntryJson(recording, index, options)}`,
    tail: (count) => (count === 0 ? ']\n  }\n}\n' : '\n    ]\n  }\n}\n'),
  }
}

/** A HAR file as a sequence of text chunks (one per entry), so large DVDs stream to disk. */
export function serializeHar(
  recordings: Iterable<Recording>,
  options: HarWriteOptions = {},
): Generator<string> {
  return layOut(harLayout(options), recordings)
}
