/**
 * Conversion between DVD formats, one recording at a time: any of JSON, binary and HAR is read as
 * a stream and written as a stream, so files of any size convert in bounded memory.
 */
import { writeFileAtomic } from './atomic_write.js'
import { DVDError } from './errors.js'
import { BinaryDVDWriter, openBinaryStore } from './formats/binary.js'
import { harLayout } from './formats/har.js'
import { readHarStream } from './formats/har_stream.js'
import { jsonLayout } from './formats/json.js'
import { readJsonStream } from './formats/json_stream.js'
import { layOutAsync } from './formats/text_layout.js'
import { type DVDFormat, detectFormat } from './loader.js'
import { DEFAULT_MATCH_ON, type MatcherName } from './matchers.js'
import type { Recording } from './model.js'
import { asFormatError } from './native.js'

/** The format of an existing DVD file, or a not-found error. */
export async function requireFormat(file: string): Promise<DVDFormat> {
  const format = await detectFormat(file)
  if (!format) throw new DVDError('DVD_ERR_NOT_FOUND', `${file}: no such file`)
  return format
}

/** Options of {@link readRecordings}. */
export interface ReadOptions {
  /** Progress: recordings read of a known total (binary), or bytes read (text formats). */
  onProgress?: (done: number, total: number | undefined, unit: 'records' | 'bytes') => void
  /** Warnings about the input (HAR entries skipped). */
  onWarning?: (message: string) => void
}

/** Every recording of a DVD file of any format (told apart by content), streamed. */
export async function* readRecordings(file: string, options: ReadOptions = {}): AsyncGenerator<Recording> {
  const { onProgress, onWarning } = options
  const format = await requireFormat(file)
  const onBytes = (bytes: number) => onProgress?.(bytes, undefined, 'bytes')
  if (format === 'json') {
    yield* readJsonStream(file, onBytes)
    return
  }
  if (format === 'har') {
    yield* readHarStream(file, { onBytes, onWarning })
    return
  }
  const store = openBinaryStore(file, DEFAULT_MATCH_ON, () => {})
  try {
    for (let id = 0; id < store.count; id++) {
      yield store.get(id)
      onProgress?.(id + 1, store.count, 'records')
    }
  } finally {
    store.close()
  }
}

/** The format a file's name asks for (`.har`, `.json`, `.lz4`), or `undefined`. */
export function formatFromName(file: string): DVDFormat | undefined {
  if (/\.lz4$/i.test(file)) return 'binary'
  if (/\.har$/i.test(file)) return 'har'
  if (/\.json$/i.test(file)) return 'json'
  return undefined
}

/** Options of {@link writeRecordings}. */
export interface WriteOptions {
  /** Fields a binary DVD's stored index is built on. */
  matchOn?: readonly MatcherName[]
  /** JSON: indent each recording. */
  pretty?: boolean
  /** JSON and HAR: keep compressed bodies decoded only, without their wire bytes. */
  decodeCompressed?: boolean
}

/** Writes `recordings` to `file` in `format`, atomically; returns how many were written. */
export async function writeRecordings(
  file: string,
  format: DVDFormat,
  recordings: AsyncIterable<Recording> | Iterable<Recording>,
  options: WriteOptions = {},
): Promise<number> {
  if (format === 'binary') {
    const writer = new BinaryDVDWriter(file, options.matchOn ?? DEFAULT_MATCH_ON)
    try {
      for await (const recording of recordings) writer.add({ kind: 'recording', recording })
      writer.finish()
    } catch (error) {
      writer.abort()
      throw error instanceof DVDError ? error : asFormatError(file, error)
    }
    return writer.count
  }
  let count = 0
  async function* counted() {
    for await (const recording of recordings) {
      count++
      yield recording
    }
  }
  const layout = format === 'har' ? harLayout(options) : jsonLayout(options)
  await writeFileAtomic(file, layOutAsync(layout, counted()))
  return count
}
