/**
 * Builds a recording from a record's layout: where the native reader found its strings and bodies
 * in the MessagePack bytes (`native/src/record_layout.rs`, whose slot table this file repeats).
 * Replay then creates only the strings the recording holds, instead of decoding every value
 * generically; a record without a layout is decoded by `decodeRecording`, with the same result.
 */
import type { HeaderPair, Recording } from '../model.js'

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

/** In the flags slot: no layout (the reader overwrites it only when it lays a record out). */
const NO_LAYOUT = 0xffff_ffff

/** Header pairs a layout array has room for (request and response together); more means no layout. */
const MAX_PAIRS = 64

/** A layout array for {@link recordingFromLayout}, marked as holding no layout. */
export function newLayout(): Uint32Array {
  return clearLayout(new Uint32Array(FIXED_SLOTS + 4 * MAX_PAIRS))
}

/** Marks `layout` as holding no layout, before a lookup that may write one. */
export function clearLayout(layout: Uint32Array): Uint32Array {
  layout[FLAGS] = NO_LAYOUT
  return layout
}

/** Whether the last lookup laid its record out. */
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
 * in between to characters nobody reads) and each string is a `slice` of it.
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
    pairsEnd: number,
  ) {
    // A non-ASCII record is decoded string by string (UTF-8): no span to find.
    if (!ascii) return
    let lo = Math.min(layout[METHOD]!, layout[URL]!)
    let hi = Math.max(layout[METHOD + 1]!, layout[URL + 1]!)
    for (let slot = FIXED_SLOTS; slot < pairsEnd; slot += 2) {
      lo = Math.min(lo, layout[slot]!)
      hi = Math.max(hi, layout[slot + 1]!)
    }
    this.#lo = lo
    this.#hi = hi
    if (hi - lo <= ONE_DECODE_SPAN) this.#span = bytes.toString('latin1', start + lo, start + hi)
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

/**
 * The recording whose MessagePack bytes start at `start` in `bytes`, from its layout. Bodies are
 * views into `bytes` (as with `decodeRecording`), strings are copies.
 */
export function recordingFromLayout(bytes: Buffer, start: number, layout: Uint32Array): Recording {
  const flags = layout[FLAGS]!
  const requestHeaders = layout[REQUEST_HEADERS]!
  const responseHeaders = layout[RESPONSE_HEADERS]!
  const pairsEnd = FIXED_SLOTS + 4 * (requestHeaders + responseHeaders)
  const strings = new Strings(bytes, start, layout, (flags & ALL_ASCII) !== 0, pairsEnd)
  const view = (slot: number) =>
    Buffer.from(bytes.buffer, bytes.byteOffset + start + layout[slot]!, layout[slot + 1]! - layout[slot]!)
  const recording: Recording = {
    request: {
      method: strings.text(METHOD),
      url: strings.text(URL),
      headers: strings.pairs(FIXED_SLOTS, requestHeaders),
    },
    outcome: {
      status: layout[STATUS]!,
      headers: strings.pairs(FIXED_SLOTS + 4 * requestHeaders, responseHeaders),
      body: flags & HAS_RESPONSE_BODY ? view(RESPONSE_BODY) : null,
    },
  }
  if (flags & HAS_REQUEST_BODY) recording.request.body = view(REQUEST_BODY)
  const response = recording.outcome as { statusText?: string; bodyDecoded?: boolean }
  if (flags & HAS_REASON) response.statusText = strings.text(REASON)
  if (flags & BODY_DECODED) response.bodyDecoded = true
  return recording
}
