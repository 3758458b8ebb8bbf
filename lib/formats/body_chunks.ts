/**
 * How the chunks of a streamed body are stored. Both formats keep, per chunk, its length and the
 * milliseconds since the previous chunk arrived (the first: since the headers): gaps stay small
 * numbers however long a stream lasts, so a chunk costs a few bytes. JSON DVDs hold them as two
 * arrays of numbers, binary DVDs as one string of LEB128 varints, `length, gap` per chunk.
 */
import type { BodyChunks } from '../model.js'

/** The JSON form: `{ "lengths": [...], "gaps_ms": [...] }`. */
export interface ChunksJson {
  lengths: number[]
  gaps_ms: number[]
}

/** Gaps between consecutive arrival offsets. */
function gaps(offsets: readonly number[]): number[] {
  return offsets.map((offset, i) => offset - (i === 0 ? 0 : offsets[i - 1]!))
}

/** The JSON form of a body's chunks. */
export function chunksToJson(chunks: BodyChunks): ChunksJson {
  return { lengths: [...chunks.lengths], gaps_ms: gaps(chunks.offsetsMs) }
}

const isCount = (value: unknown, least: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= least

/**
 * Chunks from stored lengths and gaps, checked against the body they describe; a string says
 * what is wrong with them.
 */
function fromLengthsAndGaps(lengths: unknown, gapsMs: unknown, bodyLength: number): BodyChunks | string {
  if (!Array.isArray(lengths) || !lengths.every((n) => isCount(n, 1)))
    return 'chunk lengths must be a list of positive integers'
  if (!Array.isArray(gapsMs) || !gapsMs.every((n) => isCount(n, 0)))
    return 'chunk gaps must be a list of non-negative integers'
  if (lengths.length !== gapsMs.length)
    return `${lengths.length} chunk lengths but ${gapsMs.length} gaps; they go in pairs`
  let total = 0
  const offsetsMs: number[] = new Array(gapsMs.length)
  for (let i = 0; i < lengths.length; i++) {
    total += lengths[i] as number
    offsetsMs[i] = (i === 0 ? 0 : offsetsMs[i - 1]!) + (gapsMs[i] as number)
  }
  if (total !== bodyLength)
    return `chunk lengths add up to ${total} bytes but the body has ${bodyLength}; remove the chunks after editing a body`
  return { lengths: lengths as number[], offsetsMs }
}

/** Reads the JSON form (see {@link chunksToJson}) of the chunks of a body of `bodyLength` bytes. */
export function chunksFromJson(value: unknown, bodyLength: number): BodyChunks | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'expected an object with "lengths" and "gaps_ms"'
  const o = value as Record<string, unknown>
  return fromLengthsAndGaps(o.lengths, o.gaps_ms, bodyLength)
}

function putVarint(out: number[], value: number): void {
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80)
    value = Math.floor(value / 0x80)
  }
  out.push(value)
}

/** The binary form: LEB128 `length, gap` per chunk. */
export function chunksToBytes(chunks: BodyChunks): Uint8Array {
  const out: number[] = []
  const g = gaps(chunks.offsetsMs)
  for (let i = 0; i < chunks.lengths.length; i++) {
    putVarint(out, chunks.lengths[i]!)
    putVarint(out, g[i]!)
  }
  return Uint8Array.from(out)
}

/** Varints longer than this do not fit a safe integer. */
const MAX_VARINT_BYTES = 7

/** Reads the binary form (see {@link chunksToBytes}) of the chunks of a body of `bodyLength` bytes. */
export function chunksFromBytes(bytes: Uint8Array, bodyLength: number): BodyChunks | string {
  const values: number[] = []
  let value = 0
  let scale = 1
  let size = 0
  for (const byte of bytes) {
    value += (byte & 0x7f) * scale
    scale *= 0x80
    if (++size > MAX_VARINT_BYTES) return 'chunk varint too long'
    if (byte < 0x80) {
      values.push(value)
      value = 0
      scale = 1
      size = 0
    }
  }
  if (size !== 0) return 'chunk varints end in the middle of a number'
  const lengths = values.filter((_, i) => i % 2 === 0)
  const gapsMs = values.filter((_, i) => i % 2 === 1)
  return fromLengthsAndGaps(lengths, gapsMs, bodyLength)
}
