/**
 * Streaming reader of JSON DVDs: yields one recording at a time from a file of any size, in
 * bounded memory. `JSON.parse` of a whole DVD fails beyond V8's maximum string length (about
 * 512 MiB); this scanner finds each top-level `[request, outcome]` item's bytes and parses only
 * those, so multi-gigabyte DVDs convert at disk speed.
 */
import { createReadStream } from 'node:fs'
import { DVDFormatError } from '../errors.js'
import type { Recording } from '../model.js'
import { parseRecordingValue } from './json.js'
import { invalidJsonAt } from './json_syntax.js'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_SQUARE = 0x5b
const CLOSE_SQUARE = 0x5d
const OPEN_CURLY = 0x7b
const CLOSE_CURLY = 0x7d
const COMMA = 0x2c

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

export const OPEN_AT_END = -1
export const ESCAPED_AT_END = -2

/**
 * The index of the quote closing a string whose content starts at `from` (not escaped), or
 * `OPEN_AT_END` / `ESCAPED_AT_END` when the chunk ends inside the string (the latter when its
 * last byte is an escaping backslash).
 */
export function closingQuote(chunk: Buffer, from: number): number {
  let at = from
  for (;;) {
    const q = chunk.indexOf(QUOTE, at)
    if (q === -1) {
      let slashes = 0
      for (let k = chunk.length - 1; k >= from && chunk[k] === BACKSLASH; k--) slashes++
      return slashes % 2 === 1 ? ESCAPED_AT_END : OPEN_AT_END
    }
    let slashes = 0
    for (let k = q - 1; k >= from && chunk[k] === BACKSLASH; k--) slashes++
    if (slashes % 2 === 0) return q
    at = q + 1
  }
}

/** The character starting at byte `i` of `chunk`, quoted, or its byte in hex when it is not text. */
function shown(chunk: Buffer, i: number): string {
  const b = chunk[i]!
  return b >= 0x20 && b < 0x7f
    ? JSON.stringify(String.fromCharCode(b))
    : `byte 0x${b.toString(16).padStart(2, '0')}`
}

/** Where the scanner is between items of the top-level array. */
type Expect = 'open' | 'item-or-close' | 'item' | 'comma-or-close' | 'end'

/** Reads the recordings of a JSON DVD one by one; `onBytes` reports progress in bytes read. */
export async function* readJsonStream(
  file: string,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<Recording> {
  let expect: Expect = 'open'
  let depth = 0
  let inString = false
  let escaped = false
  let parts: Buffer[] = []
  let index = 0
  let offset = 0
  /** Where the current item starts in the file, in bytes. */
  let itemOffset = 0
  /** Fails at byte `byte` of the file, between items (`[index]` is the item expected there). */
  const fail = (problem: string, byte: number): never => {
    const place = expect === 'end' || expect === 'open' ? `byte ${byte}` : `[${index}], byte ${byte}`
    throw new DVDFormatError(file, place, problem)
  }
  let stream: AsyncIterable<Buffer>
  try {
    stream = createReadStream(file, { highWaterMark: 4 << 20 })
  } catch (cause) {
    throw new DVDFormatError(file, '', `cannot read the file (${(cause as Error).message})`, {
      cause,
      code: 'DVD_ERR_IO',
    })
  }
  try {
    for await (const chunk of stream) {
      let itemStart = depth > 0 ? 0 : -1
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!
        if (depth > 0) {
          // Inside an item: only track strings and nesting, the item's own parse checks the rest.
          if (inString) {
            if (escaped) {
              escaped = false
              continue
            }
            // Strings (base64 bodies) are most of a DVD: jump to the closing quote natively
            // instead of stepping through every byte.
            const end = closingQuote(chunk, i)
            if (end < 0) {
              escaped = end === ESCAPED_AT_END
              i = chunk.length - 1
            } else {
              i = end
              inString = false
            }
          } else if (b === QUOTE) inString = true
          else if (b === OPEN_SQUARE || b === OPEN_CURLY) depth++
          else if (b === CLOSE_SQUARE || b === CLOSE_CURLY) {
            depth--
            if (depth === 0) {
              parts.push(chunk.subarray(itemStart, i + 1))
              const text = parts.length === 1 ? parts[0]!.toString() : Buffer.concat(parts).toString()
              parts = []
              itemStart = -1
              let value: unknown
              try {
                value = JSON.parse(text)
              } catch (cause) {
                const at = Math.max(invalidJsonAt(text), 0)
                const byte = itemOffset + Buffer.byteLength(text.slice(0, at))
                throw new DVDFormatError(
                  file,
                  `[${index}], byte ${byte}`,
                  `invalid JSON (${(cause as Error).message})`,
                  {
                    cause,
                  },
                )
              }
              yield parseRecordingValue(value, index, file)
              index++
              expect = 'comma-or-close'
            }
          }
          continue
        }
        if (isSpace(b)) continue
        if (expect === 'open') {
          if (b !== OPEN_SQUARE)
            fail('invalid JSON: expected a list of [request, response] pairs', offset + i)
          expect = 'item-or-close'
        } else if ((expect === 'item-or-close' || expect === 'comma-or-close') && b === CLOSE_SQUARE) {
          expect = 'end'
        } else if (expect === 'comma-or-close') {
          if (b !== COMMA) fail(`invalid JSON: unexpected ${shown(chunk, i)} after item`, offset + i)
          expect = 'item'
        } else if (expect === 'item' || expect === 'item-or-close') {
          if (b !== OPEN_SQUARE) fail('expected a [request, response] pair', offset + i)
          depth = 1
          itemStart = i
          itemOffset = offset + i
        } else fail(`invalid JSON: unexpected ${shown(chunk, i)} after the end of the list`, offset + i)
      }
      if (depth > 0 && itemStart >= 0) parts.push(chunk.subarray(itemStart))
      offset += chunk.length
      onBytes?.(offset)
    }
  } catch (error) {
    if (error instanceof DVDFormatError) throw error
    throw new DVDFormatError(file, '', `cannot read the file (${(error as Error).message})`, {
      cause: error,
      code: 'DVD_ERR_IO',
    })
  }
  if (expect !== 'end') fail('invalid JSON: the file ends before the list is closed', offset)
}
