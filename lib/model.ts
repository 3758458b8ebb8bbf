/**
 * The recording model shared by every part of dvd-rw: what a request, a response and a recorded
 * network error are. Python dvd-rw's model, plus the request body and a few Node-specific details.
 */

/** One header line; order and repeats are kept exactly as seen. */
export type HeaderPair = [name: string, value: string]

/** An HTTP request as it went out (after `filterHeaders` and `beforeRecordRequest`). */
export interface DVDRequest {
  /** Upper-case method, e.g. `GET`. */
  method: string
  /** Absolute URL, e.g. `https://api.example.com/v1/items?page=2`. */
  url: string
  /** Request headers in the order they were sent. */
  headers: HeaderPair[]
  /** Request body bytes (an extension to Python dvd-rw's model); `null` or absent when there is none. */
  body?: Uint8Array | null
}

/** An HTTP response as it came off the wire. */
export interface DVDResponse {
  status: number
  /** Reason phrase, when the server sent one. */
  statusText?: string
  /** Response headers in the order they were received. */
  headers: HeaderPair[]
  /**
   * Body bytes. Normally the wire bytes (a gzip response stays gzip-compressed, with its
   * `content-encoding` header). `null` when the response had no body at all.
   */
  body: Uint8Array | null
  /**
   * True when `body` holds the *decoded* bytes although `headers` still name a `content-encoding`:
   * that is how Python dvd-rw stores compressed responses. Replay then hands the decoded body out
   * without the `content-encoding` header, so nothing tries to decompress it twice.
   */
  bodyDecoded?: boolean
  /**
   * How the body arrived, for bodies that came in more than one chunk (a stream): replay hands
   * the body out in the same chunks, and at the same pace when asked to (the `timing` option).
   * Only meaningful while the lengths add up to `body`'s length (otherwise the body is handed out whole).
   */
  chunks?: BodyChunks
}

/** The chunks a streamed response body arrived in, in order. */
export interface BodyChunks {
  /** Byte length of each chunk (each at least 1). */
  lengths: readonly number[]
  /** When each chunk arrived, in whole milliseconds from the response's headers; never decreasing. */
  offsetsMs: readonly number[]
}

/** A request that failed before a complete response arrived (refused connection, timeout, abort…). */
export interface RecordedError {
  /** Class to rebuild on replay, e.g. `Error`, `ConnectTimeoutError`, `DOMException`. */
  errorClass: string
  /** The error's `name`. */
  name: string
  message: string
  /** The error's `code` (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`…), when it had one. */
  code?: string
  /** System-error details kept so the rebuilt error looks the same (`errno`, `syscall`, `hostname`…). */
  details?: Record<string, string | number>
  /** Milliseconds from dispatch to the failure; replay of an abort waits about as long for the caller's signal. */
  elapsedMs?: number
  /** The Python exception type (`httpx.ConnectError`…) this error is written as in JSON DVDs. */
  pythonType?: string
  /** Headers and the body bytes received before the failure (a body timeout, a reset mid-body). */
  partial?: DVDResponse
}

/** What a recorded request led to: a response or an error. */
export type Outcome = DVDResponse | RecordedError

/** One recorded interaction. */
export interface Recording {
  request: DVDRequest
  outcome: Outcome
}

/** True when the outcome is a recorded error rather than a response. */
export function isRecordedError(outcome: Outcome): outcome is RecordedError {
  return (outcome as RecordedError).errorClass !== undefined
}

/**
 * The recorded chunks of a response's body, or `undefined` when it has none or they no longer
 * describe its body: a hook or a decoding that rewrote the body leaves chunk lengths that do not
 * add up to its length, and such a body is handed out whole.
 */
export function bodyChunks(response: DVDResponse): BodyChunks | undefined {
  const { chunks, body } = response
  if (!chunks || !body || chunks.lengths.length < 2) return undefined
  let total = 0
  for (const length of chunks.lengths) total += length
  return total === body.length && chunks.offsetsMs.length === chunks.lengths.length ? chunks : undefined
}

/** Case-insensitive lookup of the first header with this name. */
export function headerValue(headers: readonly HeaderPair[], name: string): string | undefined {
  const lower = name.toLowerCase()
  for (const [key, value] of headers) {
    if (key.toLowerCase() === lower) return value
  }
  return undefined
}

/** Headers without the named ones (names compared case-insensitively). */
export function withoutHeaders(headers: readonly HeaderPair[], names: ReadonlySet<string>): HeaderPair[] {
  return headers.filter(([key]) => !names.has(key.toLowerCase()))
}

/** A copy of the request's body bytes, never sharing memory with the caller's buffer. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes)
}

/** `METHOD url`, the way requests are named in messages. */
export function describeRequest(request: DVDRequest): string {
  return `${request.method} ${request.url}`
}
