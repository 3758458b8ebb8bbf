/**
 * Builds a recording from a record's layout: where the native reader found its strings and bodies
 * in the MessagePack bytes (`native/src/record_layout.rs`, whose slot table this file repeats).
 * Replay then creates only the strings the recording holds, instead of decoding every value
 * generically; a record without a layout is decoded by `decodeRecording`, with the same result.
 */
import { markAsUntransferable } from 'node:worker_threads'
import type { DVDRequest, DVDResponse, HeaderPair, Recording } from '../model.js'
import { NO_LAYOUT } from './find_result.js'

const STATUS = 0
const FLAGS = 1
const METHOD = 2
const URL = 4
const REQUEST_BODY = 6
const REASON = 8
const RESPONSE_BODY = 10
const REQUEST_HEADERS = 12
const RESPONSE_HEADERS = 13
const FIXED_SLOTS = 14

const ALL_ASCII = 1
const BODY_DECODED = 2
const HAS_REASON = 4
const HAS_REQUEST_BODY = 8
const HAS_RESPONSE_BODY = 16

/** Whether the last lookup laid its record out (`layout` is the layout part of a find result). */
export function hasLayout(layout: Uint32Array): boolean {
  return layout[FLAGS] !== NO_LAYOUT
}

/**
 * Up to this many bytes, the strings of an ASCII record are cut from one decode of the span that
 * holds them all (a request body may lie inside it, hence the bound).
 */
const ONE_DECODE_SPAN = 4096

/**
 * Reads the strings of one laid-out record. Each `Buffer#toString` is a call into C++, and a
 * replayed record holds a dozen short strings: for an ASCII record the span from its first string
 * to its last is decoded once (latin1 reads ASCII as UTF-8 does, and maps the MessagePack framing
 * in between to characters nobody reads) and each string is a `slice` of it. The span covers the
 * header pairs in slots `[firstPair, pairsEnd)`, and the method and URL when `requestLine` is set.
 */
class Strings {
  readonly #span: string | undefined
  #lo = 0
  #hi = 0

  constructor(
    readonly bytes: Buffer,
    readonly start: number,
    readonly layout: Uint32Array,
    readonly ascii: boolean,
    requestLine: boolean,
    firstPair: number,
    pairsEnd: number,
  ) {
    // A non-ASCII record is decoded string by string (UTF-8): no span to find.
    if (!ascii) return
    let lo = requestLine ? Math.min(layout[METHOD]!, layout[URL]!) : 0xffff_ffff
    let hi = requestLine ? Math.max(layout[METHOD + 1]!, layout[URL + 1]!) : 0
    for (let slot = firstPair; slot < pairsEnd; slot += 2) {
      lo = Math.min(lo, layout[slot]!)
      hi = Math.max(hi, layout[slot + 1]!)
    }
    this.#lo = lo
    this.#hi = hi
    if (hi > lo && hi - lo <= ONE_DECODE_SPAN) this.#span = bytes.toString('latin1', start + lo, start + hi)
  }

  text(slot: number): string {
    const from = this.layout[slot]!
    const to = this.layout[slot + 1]!
    // The reason phrase lies after the response body, outside the span.
    if (this.#span !== undefined && from >= this.#lo && to <= this.#hi) {
      return this.#span.slice(from - this.#lo, to - this.#lo)
    }
    return this.bytes.toString(this.ascii ? 'latin1' : 'utf8', this.start + from, this.start + to)
  }

  pairs(from: number, count: number): HeaderPair[] {
    const list: HeaderPair[] = new Array(count)
    for (let i = 0, slot = from; i < count; i++, slot += 4) list[i] = [this.text(slot), this.text(slot + 2)]
    return list
  }
}

/** A view of the bytes between the two offsets in `slot`, `slot + 1` of a layout. */
function view(bytes: Buffer, start: number, layout: Uint32Array, slot: number): Buffer {
  return Buffer.from(
    bytes.buffer,
    bytes.byteOffset + start + layout[slot]!,
    layout[slot + 1]! - layout[slot]!,
  )
}

/**
 * A copy of the bytes between the two offsets in `slot`, `slot + 1` of a layout, in a Buffer of its
 * own: from Node's Buffer pool when it is small, as `Buffer.from` allocates; otherwise with an
 * ArrayBuffer of its own, marked untransferable as the pool is, because a body is handed out in
 * slices of that buffer and a consumer transferring (detaching) one slice's buffer would break
 * the slices still to come.
 */
function copy(bytes: Buffer, start: number, layout: Uint32Array, slot: number): Buffer {
  const from = start + layout[slot]!
  const to = start + layout[slot + 1]!
  const out = Buffer.allocUnsafe(to - from)
  if (to - from >= Buffer.poolSize >>> 1) markAsUntransferable(out.buffer)
  bytes.copy(out, 0, from, to)
  return out
}

/**
 * The response of a laid-out record, its strings read through `strings`, its body a view into
 * `bytes` or (`copyBody`) a copy.
 */
function response(
  bytes: Buffer,
  start: number,
  layout: Uint32Array,
  strings: Strings,
  copyBody: boolean,
): DVDResponse {
  const flags = layout[FLAGS]!
  const body =
    flags & HAS_RESPONSE_BODY ? (copyBody ? copy : view)(bytes, start, layout, RESPONSE_BODY) : null
  const response: DVDResponse = {
    status: layout[STATUS]!,
    headers: strings.pairs(FIXED_SLOTS + 4 * layout[REQUEST_HEADERS]!, layout[RESPONSE_HEADERS]!),
    body,
  }
  if (flags & HAS_REASON) response.statusText = strings.text(REASON)
  if (flags & BODY_DECODED) response.bodyDecoded = true
  return response
}

/** Slot after the last header pair of a layout. */
function pairsEnd(layout: Uint32Array): number {
  return FIXED_SLOTS + 4 * (layout[REQUEST_HEADERS]! + layout[RESPONSE_HEADERS]!)
}

/**
 * The recording whose MessagePack bytes start at `start` in `bytes`, from its layout. Bodies are
 * views into `bytes` (as with `decodeRecording`), strings are copies.
 */
export function recordingFromLayout(bytes: Buffer, start: number, layout: Uint32Array): Recording {
  const ascii = (layout[FLAGS]! & ALL_ASCII) !== 0
  const strings = new Strings(bytes, start, layout, ascii, true, FIXED_SLOTS, pairsEnd(layout))
  const request: DVDRequest = {
    method: strings.text(METHOD),
    url: strings.text(URL),
    headers: strings.pairs(FIXED_SLOTS, layout[REQUEST_HEADERS]!),
  }
  if (layout[FLAGS]! & HAS_REQUEST_BODY) request.body = view(bytes, start, layout, REQUEST_BODY)
  return { request, outcome: response(bytes, start, layout, strings, false) }
}

/**
 * Only the response of a laid-out record (see {@link recordingFromLayout}), for the replay fast
 * path, whose request was already compared with the incoming one by the native reader. Nothing in
 * it refers to `bytes`: its body is a copy, so `bytes` may be written again at once.
 */
export function responseFromLayout(bytes: Buffer, start: number, layout: Uint32Array): DVDResponse {
  const ascii = (layout[FLAGS]! & ALL_ASCII) !== 0
  const firstPair = FIXED_SLOTS + 4 * layout[REQUEST_HEADERS]!
  const strings = new Strings(bytes, start, layout, ascii, false, firstPair, pairsEnd(layout))
  return response(bytes, start, layout, strings, true)
}
