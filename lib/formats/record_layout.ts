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
 * The recording whose MessagePack bytes start at `start` in `bytes`, from its layout. Bodies are
 * views into `bytes` (as with `decodeRecording`), strings are copies.
 */
export function recordingFromLayout(bytes: Buffer, start: number, layout: Uint32Array): Recording {
  const flags = layout[FLAGS]!
  // Latin1 reads ASCII text as UTF-8 does, and costs less.
  const encoding = flags & ALL_ASCII ? 'latin1' : 'utf8'
  const text = (slot: number) => bytes.toString(encoding, start + layout[slot]!, start + layout[slot + 1]!)
  const view = (slot: number) =>
    Buffer.from(bytes.buffer, bytes.byteOffset + start + layout[slot]!, layout[slot + 1]! - layout[slot]!)
  const pairs = (from: number, count: number): HeaderPair[] => {
    const list: HeaderPair[] = new Array(count)
    for (let i = 0, slot = from; i < count; i++, slot += 4) list[i] = [text(slot), text(slot + 2)]
    return list
  }
  const requestHeaders = layout[REQUEST_HEADERS]!
  const recording: Recording = {
    request: {
      method: text(METHOD),
      url: text(URL),
      headers: pairs(FIXED_SLOTS, requestHeaders),
    },
    outcome: {
      status: layout[STATUS]!,
      headers: pairs(FIXED_SLOTS + 4 * requestHeaders, layout[RESPONSE_HEADERS]!),
      body: flags & HAS_RESPONSE_BODY ? view(RESPONSE_BODY) : null,
    },
  }
  if (flags & HAS_REQUEST_BODY) recording.request.body = view(REQUEST_BODY)
  const response = recording.outcome as { statusText?: string; bodyDecoded?: boolean }
  if (flags & HAS_REASON) response.statusText = text(REASON)
  if (flags & BODY_DECODED) response.bodyDecoded = true
  return recording
}
