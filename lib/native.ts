/**
 * The native addon (napi-rs, `native/`), wrapped: nothing outside this file sees its raw names.
 * When the binary for this platform cannot load, binary DVDs are read by the TypeScript reader of
 * the same format (slower, same results), after a one-line notice.
 */
import { createRequire } from 'node:module'
import { prepareTarget } from './atomic_write.js'
import { DVDError, DVDFormatError, DVDSaveError } from './errors.js'
import { FallbackDvdReader } from './formats/binary_fallback.js'

/** Counts and sizes of an open binary DVD (the native `NativeDvdStats`; the TypeScript reader's too). */
export interface BinaryStats {
  /** Number of records. */
  recordCount: number
  /** Total file size in bytes. */
  fileBytes: number
  /** Sum of the decompressed record sizes (the LZ4 content size). */
  uncompressedRecordBytes: number
  /** Bytes of the record blocks (block headers, data and block checksums). */
  compressedRecordBytes: number
  /** Size of the whole LZ4 data frame. */
  dataFrameBytes: number
  /** Size of the index skippable frame. */
  indexFrameBytes: number
  /** Size of the record offset table. */
  recordTableBytes: number
  /** Size of the hash table section (slots and bucket ids). */
  hashTableBytes: number
  /** Size of the match-fields section. */
  fieldsTableBytes: number
  /** Number of LZ4 chunks in the match-fields section. */
  fieldsChunkCount: number
  /** Number of hash-table slots (a power of two). */
  hashCapacity: number
  /** Number of occupied slots, i.e. distinct key hashes. */
  distinctKeys: number
  /** `distinctKeys / hashCapacity`. */
  loadFactor: number
}

/** An open binary DVD file: the hash index and the records, as bytes. */
export interface BinaryReader {
  readonly count: number
  readonly matchOn: string
  readonly versionMajor: number
  readonly versionMinor: number
  /** Ids whose key hash equals that of `key`, in recording order (collisions possible). */
  lookup(key: Buffer): Uint32Array
  /**
   * The lookup behind replay: among the candidates of a request's key at or after position
   * `from`, the first that `plays` (play counts by record id) counts as never played, else the last
   * (without `plays`: the one at `from`), its record decompressed into `target` from `offset` on.
   * The request is given by its `key`, or (`key` null) by its dispatch parts, which only the native
   * reader keys itself. Everything found is written into `result` (`formats/find_result.ts`); the
   * native reader also lays the record out there.
   */
  find(
    key: string | null,
    method: string,
    origin: string,
    path: string,
    from: number,
    plays: Uint32Array | null,
    target: Buffer,
    offset: number,
    result: Uint32Array,
  ): void
  /** Decompresses record `id` into `target` from `offset` on, with the result slots `find` writes. */
  read(id: number, target: Buffer, offset: number, result: Uint32Array): void
  /** The MessagePack bytes of record `id`. */
  record(id: number): Buffer
  /** The MessagePack bytes of record `id`'s match fields. */
  matchFields(id: number): Buffer
  verify(): void
  stats(): BinaryStats
  close(): void
}

/** Writes a binary DVD to a temporary file and renames it over the target on `finish()`. */
export interface BinaryWriter {
  add(record: Buffer, key: Buffer, matchFields: Buffer): number
  /** Keeps a lookup index of the records added from now on (before the first `add`). */
  indexRecords(): void
  /** Ids of the records added with a key of the same hash as `key` (candidates), in order. */
  lookup(key: Buffer): Uint32Array
  /** Record `id`'s bytes, read back from the temporary file. */
  read(id: number): Buffer
  finish(): void
  /** `finish()` on a worker thread; the writer is closed at once. */
  finishAsync(): Promise<void>
  abort(): void
}

interface Binding {
  NativeDvdReader: { open(path: string): BinaryReader }
  NativeDvdWriter: new (path: string, matchOn: string) => BinaryWriter
  xxh64Key(key: Buffer): bigint
}

let binding: Binding | null | undefined

/** Set `DVD_RW_NATIVE=0` to read binary DVDs with the TypeScript reader even where the addon loads. */
const NATIVE_ENV = 'DVD_RW_NATIVE'

/** The loaded addon, or `null` when this platform has none (noticed once on stderr). */
export function nativeBinding(): Binding | null {
  if (binding !== undefined) return binding
  try {
    binding = createRequire(import.meta.url)('../../native/index.js') as Binding
  } catch (error) {
    binding = null
    const reason = (error as Error).message.split('\n')[0]
    process.stderr.write(
      `dvd-rw: native addon not available (${reason}); reading binary DVDs with the slower TypeScript reader\n`,
    )
  }
  return binding
}

/** Which reader serves binary DVDs in this process. */
export function binaryBackend(): 'native' | 'typescript' {
  return process.env[NATIVE_ENV] !== '0' && nativeBinding() ? 'native' : 'typescript'
}

/**
 * Turns an addon or fallback error (its `code` a `DVD_ERR_*`, its message starting with that code)
 * into a {@link DVDFormatError} naming the file.
 */
export function asFormatError(file: string, error: unknown): DVDError {
  if (error instanceof DVDError) return error
  const message = error instanceof Error ? error.message : String(error)
  const given = (error as { code?: unknown } | null)?.code
  const code = typeof given === 'string' && given.startsWith('DVD_ERR_') ? given : 'DVD_ERR_FORMAT'
  const problem = message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message
  return new DVDFormatError(file, '', problem, { cause: error, code })
}

/** Opens a binary DVD with the addon, or the TypeScript reader when there is no addon. */
export function openBinaryReader(file: string): BinaryReader {
  try {
    const native = binaryBackend() === 'native' ? nativeBinding() : null
    return native ? native.NativeDvdReader.open(file) : FallbackDvdReader.open(file)
  } catch (error) {
    throw asFormatError(file, error)
  }
}

/** Starts writing a binary DVD, creating missing folders (the addon is needed to write). */
export function createBinaryWriter(file: string, matchOn: string): BinaryWriter {
  const native = nativeBinding()
  if (!native) {
    throw new DVDError(
      'DVD_ERR_UNSUPPORTED',
      `${file}: writing binary DVDs needs the native addon, which is not available on this platform; ` +
        'save the DVD as .dvd.json instead (binary DVDs are still read, by the TypeScript reader).',
    )
  }
  prepareTarget(file)
  try {
    return new native.NativeDvdWriter(file, matchOn)
  } catch (error) {
    throw new DVDSaveError(file, error, 'cannot create its temporary file')
  }
}
