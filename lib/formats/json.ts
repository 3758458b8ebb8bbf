/**
 * JSON DVDs (`*.dvd.json`): Python dvd-rw 0.1.6's format, read and written so both libraries load
 * each other's files. One JSON array of `[request, outcome]` pairs in recording order.
 *
 * Python keeps response bodies decoded (with the original `content-encoding` header), so bodies are
 * written decoded; Node's exact wire bytes ride along in extension fields Python ignores:
 * - request `body`: the request body (`b64_byte__…`);
 * - response `wire_body`: the body as it came off the wire when it differs from `body` (compressed);
 * - response `reason`: a non-standard reason phrase;
 * - response `chunks`: how a streamed body arrived (chunk lengths and gaps, see `body_chunks.ts`);
 * - error `node`: the Node error's class, name, code, details, timing and partial response.
 */
import { decodedBody, withDecodedBody } from '../content_encoding.js'
import { DVDFormatError } from '../errors.js'
import type { DVDRequest, DVDResponse, HeaderPair, Outcome, RecordedError, Recording } from '../model.js'
import { bodyChunks, isRecordedError } from '../model.js'
import { chunksFromJson, chunksToJson } from './body_chunks.js'
import { invalidJsonAt, lineAndColumn } from './json_syntax.js'
import { fromPythonType, toPythonType } from './python_errors.js'
import { layOut, type TextLayout } from './text_layout.js'

/** Python dvd-rw ≥ 0.1.6 prefixes base64 bodies with this marker; older files have bare base64. */
export const BODY_PREFIX = 'b64_byte__'

/** Options of {@link serializeJson}. */
export interface JsonWriteOptions {
  /**
   * Store compressed bodies decoded, with `content-encoding` removed and `content-length` fixed,
   * and no wire bytes: readable diffs, at the cost of byte-exact replay.
   */
  decodeCompressed?: boolean
  /** Indent each pair (2 spaces) instead of one compact line per pair. */
  pretty?: boolean
}

// ---------------------------------------------------------------- reading

type Json = unknown

class Reader {
  constructor(readonly file: string) {}

  fail(at: string, problem: string): never {
    throw new DVDFormatError(this.file, at, problem)
  }

  object(value: Json, at: string): Record<string, Json> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.fail(at, `expected an object, found ${describe(value)}`)
    }
    return value as Record<string, Json>
  }

  string(value: Json, at: string): string {
    if (typeof value !== 'string') this.fail(at, `expected a string, found ${describe(value)}`)
    return value
  }

  headers(value: Json, at: string): HeaderPair[] {
    if (!Array.isArray(value))
      this.fail(at, `expected a list of [name, value] pairs, found ${describe(value)}`)
    return value.map((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        this.fail(`${at}[${i}]`, `expected a [name, value] pair, found ${describe(pair)}`)
      }
      return [this.string(pair[0], `${at}[${i}][0]`), this.string(pair[1], `${at}[${i}][1]`)] as HeaderPair
    })
  }

  bytes(value: Json, at: string, legacyAllowed: boolean): Buffer | null {
    if (value === null || value === undefined) return null
    const text = this.string(value, at)
    let encoded = text
    if (text.startsWith(BODY_PREFIX)) encoded = text.slice(BODY_PREFIX.length)
    else if (!legacyAllowed) this.fail(at, `expected "${BODY_PREFIX}" followed by base64`)
    if (encoded.length % 4 !== 0) this.fail(at, 'invalid base64')
    const bytes = Buffer.from(encoded, 'base64')
    // Node's decoder skips characters outside the alphabet and stops at padding, so a decoded
    // length short of what the text's length promises means a bad character; the URL-safe `-`
    // and `_`, which it also accepts, are looked for separately. Both are much faster than a
    // regular expression over a long body.
    const padding = encoded.endsWith('==') ? 2 : encoded.endsWith('=') ? 1 : 0
    if (bytes.length !== (encoded.length / 4) * 3 - padding || encoded.includes('-') || encoded.includes('_'))
      this.fail(at, 'invalid base64')
    return bytes
  }

  request(value: Json, at: string): DVDRequest {
    const o = this.object(value, at)
    const method = this.string(o.method, `${at}.method`)
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method))
      this.fail(`${at}.method`, `invalid HTTP method "${method}"`)
    const url = this.string(o.url, `${at}.url`)
    if (!URL.canParse(url)) this.fail(`${at}.url`, `not an absolute URL: "${url}"`)
    const request: DVDRequest = {
      method: method.toUpperCase(),
      url,
      headers: this.headers(o.headers, `${at}.headers`),
    }
    const body = this.bytes(o.body, `${at}.body`, false)
    if (body && body.length > 0) request.body = body
    return request
  }

  response(o: Record<string, Json>, at: string): DVDResponse {
    const status = o.status
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999) {
      this.fail(`${at}.status`, `expected an HTTP status (integer 100-999), found ${describe(status)}`)
    }
    const headers = this.headers(o.headers, `${at}.headers`)
    if (!('body' in o)) this.fail(`${at}.body`, 'missing (use null for no body)')
    const body = this.bytes(o.body, `${at}.body`, true)
    const wire = this.bytes(o.wire_body, `${at}.wire_body`, false)
    const response: DVDResponse = { status, headers, body: wire ?? body }
    if (o.reason !== undefined) response.statusText = this.string(o.reason, `${at}.reason`)
    if (o.chunks !== undefined) {
      const chunks = chunksFromJson(o.chunks, response.body?.length ?? 0)
      if (typeof chunks === 'string') this.fail(`${at}.chunks`, chunks)
      response.chunks = chunks
    }
    if (
      !wire &&
      headers.some(
        ([k, v]) => k.toLowerCase() === 'content-encoding' && v.trim().toLowerCase() !== 'identity',
      )
    ) {
      response.bodyDecoded = true
    }
    return response
  }

  error(o: Record<string, Json>, at: string, request: DVDRequest): RecordedError {
    const pythonType = this.string(o.exc_type, `${at}.exc_type`)
    const message = this.string(o.message, `${at}.message`)
    if (o.node === undefined) return fromPythonType(pythonType, message, request)
    const node = this.object(o.node, `${at}.node`)
    const recorded: RecordedError = {
      errorClass: this.string(node.class, `${at}.node.class`),
      name: this.string(node.name, `${at}.node.name`),
      message,
      pythonType,
    }
    if (node.code !== undefined) recorded.code = this.string(node.code, `${at}.node.code`)
    if (node.details !== undefined) {
      const details = this.object(node.details, `${at}.node.details`)
      for (const [key, value] of Object.entries(details)) {
        if (typeof value !== 'string' && typeof value !== 'number') {
          this.fail(`${at}.node.details.${key}`, `expected a string or number, found ${describe(value)}`)
        }
      }
      recorded.details = details as Record<string, string | number>
    }
    if (node.elapsed_ms !== undefined) {
      if (typeof node.elapsed_ms !== 'number') this.fail(`${at}.node.elapsed_ms`, 'expected a number')
      recorded.elapsedMs = node.elapsed_ms
    }
    if (node.partial !== undefined) {
      recorded.partial = this.response(this.object(node.partial, `${at}.node.partial`), `${at}.node.partial`)
    }
    return recorded
  }

  recording(value: Json, at: string): Recording {
    if (!Array.isArray(value) || value.length !== 2) {
      this.fail(at, `expected a [request, response] pair, found ${describe(value)}`)
    }
    const request = this.request(value[0], `${at}[0]`)
    const o = this.object(value[1], `${at}[1]`)
    const outcome: Outcome =
      'exc_type' in o ? this.error(o, `${at}[1]`, request) : this.response(o, `${at}[1]`)
    return { request, outcome }
  }
}

/** How a JSON value is named in error messages. */
export function describe(value: Json): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return `a list of ${value.length}`
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`
}

/** Checks one parsed `[request, outcome]` item found at position `index` of the file's array. */
export function parseRecordingValue(value: unknown, index: number, file: string): Recording {
  return new Reader(file).recording(value, `[${index}]`)
}

/** Decodes base64 body text (with or without the `b64_byte__` prefix), rejecting anything malformed. */
export function parseBase64(value: unknown, at: string, file: string): Buffer | null {
  return new Reader(file).bytes(value, at, true)
}

/** Reads a recorded error from the object {@link recordedErrorJson} made. */
export function parseRecordedError(
  value: unknown,
  at: string,
  file: string,
  request: DVDRequest,
): RecordedError {
  const reader = new Reader(file)
  return reader.error(reader.object(value, at), at, request)
}

/** Where `text`, which `JSON.parse` refused, stops being valid JSON: `line L, column C`. */
export function syntaxErrorPlace(text: string): string {
  const at = invalidJsonAt(text)
  if (at < 0) return ''
  const place = lineAndColumn(text, at)
  return at >= text.length ? `${place} (the end of the file)` : place
}

/**
 * Parses a JSON DVD. Every problem is a {@link DVDFormatError} naming the file and the place
 * inside it (e.g. `[12][1].status`).
 */
export function parseJson(text: string, file: string): Recording[] {
  let data: Json
  try {
    data = JSON.parse(text)
  } catch (cause) {
    throw new DVDFormatError(file, syntaxErrorPlace(text), `invalid JSON (${(cause as Error).message})`, {
      cause,
    })
  }
  const reader: Reader = new Reader(file)
  if (!Array.isArray(data))
    reader.fail('', `expected a list of [request, response] pairs, found ${describe(data)}`)
  return data.map((item, i) => reader.recording(item, `[${i}]`))
}

// ---------------------------------------------------------------- writing

const b64 = (bytes: Uint8Array): string =>
  BODY_PREFIX + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')

function requestJson(request: DVDRequest): Record<string, Json> {
  const o: Record<string, Json> = { headers: request.headers, method: request.method, url: request.url }
  if (request.body && request.body.length > 0) o.body = b64(request.body)
  return o
}

function responseJson(response: DVDResponse, options: JsonWriteOptions): Record<string, Json> {
  if (options.decodeCompressed) response = withDecodedBody(response)
  const o: Record<string, Json> = { status: response.status, headers: response.headers }
  const decoded = decodedBody(response)
  if (decoded) {
    // Python hands the stored body out as is: it must be the decoded one.
    o.body = b64(decoded)
    o.wire_body = b64(response.body!)
  } else {
    o.body = response.body ? b64(response.body) : null
  }
  if (response.statusText !== undefined) o.reason = response.statusText
  const chunks = bodyChunks(response)
  if (chunks) o.chunks = chunksToJson(chunks)
  return o
}

function errorJson(error: RecordedError, options: JsonWriteOptions): Record<string, Json> {
  const node: Record<string, Json> = { class: error.errorClass, name: error.name }
  if (error.code !== undefined) node.code = error.code
  if (error.details) node.details = error.details
  if (error.elapsedMs !== undefined) node.elapsed_ms = error.elapsedMs
  if (error.partial) node.partial = responseJson(error.partial, options)
  return { exc_type: toPythonType(error), message: error.message, node }
}

/** A recorded error as the object JSON DVDs store (`exc_type`, `message`, `node`). */
export function recordedErrorJson(error: RecordedError): Record<string, unknown> {
  return errorJson(error, {})
}

/** The JSON text of one recording: `[request, outcome]`. */
export function recordingJson(recording: Recording, options: JsonWriteOptions = {}): string {
  const { outcome } = recording
  const value = isRecordedError(outcome) ? errorJson(outcome, options) : responseJson(outcome, options)
  return JSON.stringify([requestJson(recording.request), value], null, options.pretty ? 2 : undefined)
}

/** How a JSON DVD is laid out: a list with one recording per line (or per block with `pretty`). */
export function jsonLayout(options: JsonWriteOptions = {}): TextLayout {
  return {
    head: '[',
    item: (recording, index) => `${index === 0 ? '\n' : ',\n'}${recordingJson(recording, options)}`,
    tail: (count) => (count === 0 ? ']\n' : '\n]\n'),
  }
}

/** A JSON DVD as a sequence of text chunks (one per recording), so large DVDs stream to disk. */
export function serializeJson(
  recordings: Iterable<Recording>,
  options: JsonWriteOptions = {},
): Generator<string> {
  return layOut(jsonLayout(options), recordings)
}
