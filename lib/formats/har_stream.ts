/**
 * Streaming reader of HAR files: yields one recording per entry of `log.entries` from a file of
 * any size, in bounded memory. Browsers and Playwright fail on HAR files beyond V8's maximum
 * string length (about 512 MiB); this scanner finds each entry's bytes and parses only those.
 * Everything outside `log.entries` (version, creator, pages) is small: it is kept and parsed at
 * the end, so a malformed file is still refused as a whole.
 */
import { createReadStream } from 'node:fs'
import { DVDFormatError } from '../errors.js'
import type { Recording } from '../model.js'
import { HarEntryReader, SkippedEntries } from './har.js'
import { describe } from './json.js'
import { closingQuote, ESCAPED_AT_END } from './json_stream.js'

const QUOTE = 0x22
const OPEN_SQUARE = 0x5b
const CLOSE_SQUARE = 0x5d
const OPEN_CURLY = 0x7b
const CLOSE_CURLY = 0x7d
const COMMA = 0x2c

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

/** Depth of the `entries` array: inside the top-level object (1) and `log` (2). */
const ENTRIES_DEPTH = 3

/** Options of {@link readHarStream}. */
export interface HarStreamOptions {
  /** Progress in bytes read. */
  onBytes?: (bytes: number) => void
  /** Called once at the end when entries were skipped, with the warning to show. */
  onWarning?: (message: string) => void
}

/** Reads the recordings of a HAR file one by one. */
export async function* readHarStream(
  file: string,
  options: HarStreamOptions = {},
): AsyncGenerator<Recording> {
  const reader = new HarEntryReader(file)
  const skipped = new SkippedEntries()
  let depth = 0
  const containers: number[] = [] // the opening byte of the container at each depth
  const keys: string[] = [] // the key in force at each object depth
  let expectKey = false
  let inString = false
  let escaped = false
  let keyStart = -1 // where the key being read starts in this chunk, -1 when not reading a key
  let keyParts: Buffer[] = []
  let inEntries = false
  let itemStart = -1
  let itemParts: Buffer[] = []
  let skeletonStart = 0 // where the bytes kept outside `log.entries` start in this chunk, -1 inside it
  const skeleton: Buffer[] = []
  let index = 0
  let offset = 0
  const fail = (at: string, problem: string): never => reader.fail(at, problem)

  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 }) as AsyncIterable<Buffer>) {
      if (keyStart !== -1) keyStart = 0
      if (itemStart !== -1) itemStart = 0
      if (skeletonStart !== -1) skeletonStart = 0
      for (let i = 0; i < chunk.length; i++) {
        if (inString) {
          if (escaped) {
            escaped = false
            continue
          }
          const end = closingQuote(chunk, i)
          if (end < 0) {
            escaped = end === ESCAPED_AT_END
            i = chunk.length - 1
          } else {
            i = end
            inString = false
            if (keyStart !== -1) {
              keyParts.push(chunk.subarray(keyStart, end))
              keys[depth] = objectKey(reader, Buffer.concat(keyParts).toString())
              keyParts = []
              keyStart = -1
              expectKey = false
            }
          }
          continue
        }
        const b = chunk[i]!
        if (b === QUOTE) {
          inString = true
          if (itemStart === -1 && expectKey && depth < ENTRIES_DEPTH) keyStart = i + 1
        } else if (b === OPEN_CURLY || b === OPEN_SQUARE) {
          if (inEntries && depth === ENTRIES_DEPTH) {
            if (b !== OPEN_CURLY) fail(`log.entries[${index}]`, 'expected an object, found a list')
            itemStart = i
          }
          depth++
          containers[depth] = b
          expectKey = b === OPEN_CURLY
          if (
            depth === ENTRIES_DEPTH &&
            b === OPEN_SQUARE &&
            keys[1] === 'log' &&
            keys[2] === 'entries' &&
            containers[1] === OPEN_CURLY &&
            containers[2] === OPEN_CURLY &&
            !inEntries
          ) {
            inEntries = true
            skeleton.push(chunk.subarray(skeletonStart, i + 1))
            skeletonStart = -1
          }
        } else if (b === CLOSE_CURLY || b === CLOSE_SQUARE) {
          depth--
          expectKey = false
          if (inEntries && depth === ENTRIES_DEPTH && itemStart !== -1) {
            itemParts.push(chunk.subarray(itemStart, i + 1))
            const text =
              itemParts.length === 1 ? itemParts[0]!.toString() : Buffer.concat(itemParts).toString()
            itemParts = []
            itemStart = -1
            let value: unknown
            try {
              value = JSON.parse(text)
            } catch (cause) {
              fail(`log.entries[${index}]`, `invalid JSON (${(cause as Error).message})`)
            }
            const result = reader.entry(value, index)
            if (typeof result === 'string') skipped.add(result)
            else yield result
            index++
          } else if (inEntries && depth === ENTRIES_DEPTH - 1) {
            inEntries = false
            skeletonStart = i
          }
        } else if (b === COMMA) {
          expectKey = containers[depth] === OPEN_CURLY
        } else if (inEntries && depth === ENTRIES_DEPTH && !isSpace(b)) {
          fail(`log.entries[${index}]`, `expected an object, found "${String.fromCharCode(b)}"`)
        }
      }
      if (keyStart !== -1) keyParts.push(chunk.subarray(keyStart))
      if (itemStart !== -1) itemParts.push(chunk.subarray(itemStart))
      if (skeletonStart !== -1) skeleton.push(chunk.subarray(skeletonStart))
      offset += chunk.length
      options.onBytes?.(offset)
    }
  } catch (error) {
    if (error instanceof DVDFormatError) throw error
    throw new DVDFormatError(file, '', `cannot read the file (${(error as Error).message})`, {
      cause: error,
      code: 'DVD_ERR_IO',
    })
  }
  checkSkeleton(reader, Buffer.concat(skeleton).toString())
  const warning = skipped.warning(file)
  if (warning) options.onWarning?.(warning)
}

/** The text of an object key from its raw bytes between the quotes. */
function objectKey(reader: HarEntryReader, raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string
  } catch (cause) {
    reader.fail('', `invalid JSON (${(cause as Error).message})`)
  }
}

/** Checks what surrounds the entries: a JSON object whose `log` object holds an `entries` list. */
function checkSkeleton(reader: HarEntryReader, text: string): void {
  let data: unknown
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''))
  } catch (cause) {
    reader.fail('', `invalid JSON (${(cause as Error).message})`)
  }
  const top = reader.object(data, '')
  if (top.log === undefined)
    reader.fail(
      'log',
      'missing: a HAR file is {"log": {"entries": [...]}}, a JSON DVD a list of [request, response] pairs',
    )
  const log = reader.object(top.log, 'log')
  if (!Array.isArray(log.entries))
    reader.fail('log.entries', `expected a list of entries, found ${describe(log.entries)}`)
}

/** Every recording of a HAR file, for a DVD held in memory. */
export async function readHarFile(file: string, onWarning?: (message: string) => void): Promise<Recording[]> {
  const recordings: Recording[] = []
  for await (const recording of readHarStream(file, { onWarning })) recordings.push(recording)
  return recordings
}
