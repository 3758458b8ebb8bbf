/**
 * Binary DVDs (`*.dvd.lz4`): records as MessagePack maps (the JSON model's fields, bodies as raw
 * binary), stored and indexed by the native addon (or read by the TypeScript fallback). This file
 * owns the MessagePack side: encoding records and match fields, and the store the DVD looks up in.
 */
import { markAsUntransferable } from 'node:worker_threads'
import { Packr, Unpackr } from 'msgpackr'
import type { Candidate, Query, RecordingStore } from '../dvd.js'
import { DVDError, DVDFormatError, DVDSaveError } from '../errors.js'
import { keyOf, MATCHERS, type MatcherName, matcherValue, ParsedRequest } from '../matchers.js'
import type { DVDRequest, DVDResponse, HeaderPair, Outcome, RecordedError, Recording } from '../model.js'
import { bodyChunks, isRecordedError } from '../model.js'
import {
  asFormatError,
  type BinaryReader,
  type BinaryWriter,
  createBinaryWriter,
  openBinaryReader,
} from '../native.js'
import { type Bucket, choose, type PlayCounts } from '../play_counts.js'
import { FallbackDvdReader } from './binary_fallback.js'
import { chunksFromBytes, chunksToBytes } from './body_chunks.js'
import {
  NO_ROOM,
  NONE,
  NOT_SIMPLE,
  newResult,
  SLOT_ID,
  SLOT_LAYOUT,
  SLOT_LENGTH,
  SLOT_POSITION,
  SLOT_SAME_REQUEST,
  SLOT_STATUS,
} from './find_result.js'
import { hasLayout, recordingFromLayout, responseFromLayout } from './record_layout.js'

// Plain MessagePack maps and arrays (no msgpackr record extension), so any MessagePack reader
// decodes `lz4 -dc file.dvd.lz4`.
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

type Obj = Record<string, unknown>

function requestObject(request: DVDRequest): Obj {
  const o: Obj = { method: request.method, url: request.url, headers: request.headers }
  if (request.body && request.body.length > 0) o.body = request.body
  return o
}

function responseObject(response: DVDResponse): Obj {
  const o: Obj = { status: response.status, headers: response.headers, body: response.body }
  if (response.statusText !== undefined) o.reason = response.statusText
  if (response.bodyDecoded) o.body_decoded = true
  const chunks = bodyChunks(response)
  if (chunks) o.chunks = chunksToBytes(chunks)
  return o
}

function errorObject(error: RecordedError): Obj {
  const o: Obj = { class: error.errorClass, name: error.name, message: error.message }
  if (error.code !== undefined) o.code = error.code
  if (error.details) o.details = error.details
  if (error.elapsedMs !== undefined) o.elapsed_ms = error.elapsedMs
  if (error.pythonType !== undefined) o.exc_type = error.pythonType
  if (error.partial) o.partial = responseObject(error.partial)
  return o
}

/** One recording as the MessagePack bytes stored in a binary DVD. */
export function encodeRecording(recording: Recording): Buffer {
  const { outcome } = recording
  return packr.pack({
    request: requestObject(recording.request),
    ...(isRecordedError(outcome) ? { error: errorObject(outcome) } : { response: responseObject(outcome) }),
  })
}

/** Checks the shape of decoded records; a file with valid checksums can still hold nonsense. */
class Shape {
  constructor(
    readonly file: string,
    /** What is decoded (`record`, `match fields`), named in messages with `id`. */
    readonly what: string,
    readonly id: number,
  ) {}
  fail(path: string, problem: string): never {
    throw new DVDFormatError(this.file, `${this.what} #${this.id}${path}`, problem)
  }
  obj(v: unknown, path: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
      this.fail(path, 'expected a map')
    }
    return v as Obj
  }
  str(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'expected a string')
    return v
  }
  bytes(v: unknown, path: string): Buffer | null {
    if (v === null || v === undefined) return null
    if (!(v instanceof Uint8Array)) this.fail(path, 'expected binary')
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  }
  headers(v: unknown, path: string): HeaderPair[] {
    if (!Array.isArray(v)) this.fail(path, 'expected a list of [name, value] pairs')
    for (let i = 0; i < v.length; i++) {
      const pair: unknown = v[i]
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        typeof pair[0] !== 'string' ||
        typeof pair[1] !== 'string'
      ) {
        this.fail(`${path}[${i}]`, 'expected a [name, value] pair of strings')
      }
    }
    return v as HeaderPair[]
  }
  request(v: unknown): DVDRequest {
    const o = this.obj(v, '.request')
    const request: DVDRequest = {
      method: this.str(o.method, '.request.method'),
      url: this.str(o.url, '.request.url'),
      headers: this.headers(o.headers, '.request.headers'),
    }
    const body = this.bytes(o.body, '.request.body')
    if (body) request.body = body
    return request
  }
  response(v: unknown, path: string): DVDResponse {
    const o = this.obj(v, path)
    if (typeof o.status !== 'number' || !Number.isInteger(o.status))
      this.fail(`${path}.status`, 'expected an integer')
    const response: DVDResponse = {
      status: o.status,
      headers: this.headers(o.headers, `${path}.headers`),
      body: this.bytes(o.body, `${path}.body`),
    }
    if (o.reason !== undefined) response.statusText = this.str(o.reason, `${path}.reason`)
    if (o.body_decoded === true) response.bodyDecoded = true
    if (o.chunks !== undefined) {
      const bytes = this.bytes(o.chunks, `${path}.chunks`)
      const chunks = chunksFromBytes(bytes ?? new Uint8Array(0), response.body?.length ?? 0)
      if (typeof chunks === 'string') this.fail(`${path}.chunks`, chunks)
      response.chunks = chunks
    }
    return response
  }
  error(v: unknown): RecordedError {
    const o = this.obj(v, '.error')
    const error: RecordedError = {
      errorClass: this.str(o.class, '.error.class'),
      name: this.str(o.name, '.error.name'),
      message: this.str(o.message, '.error.message'),
    }
    if (o.code !== undefined) error.code = this.str(o.code, '.error.code')
    if (o.details !== undefined)
      error.details = this.obj(o.details, '.error.details') as Record<string, string | number>
    if (typeof o.elapsed_ms === 'number') error.elapsedMs = o.elapsed_ms
    if (o.exc_type !== undefined) error.pythonType = this.str(o.exc_type, '.error.exc_type')
    if (o.partial !== undefined) error.partial = this.response(o.partial, '.error.partial')
    return error
  }
}

/**
 * Decodes and checks one record's MessagePack bytes. Binary values (bodies) are views into `bytes`,
 * which must therefore never be written again.
 */
export function decodeRecording(bytes: Buffer, file: string, id: number): Recording {
  const shape = new Shape(file, 'record', id)
  let value: unknown
  try {
    value = unpackr.unpack(bytes)
  } catch (cause) {
    throw new DVDFormatError(file, `record #${id}`, `invalid MessagePack (${(cause as Error).message})`, {
      cause,
    })
  }
  const o = shape.obj(value, '')
  const request = shape.request(o.request)
  const outcome: Outcome =
    o.error !== undefined ? shape.error(o.error) : shape.response(o.response, '.response')
  return { request, outcome }
}

/**
 * The canonical value of every matcher for a request, stored beside each record so an index for
 * another `matchOn` can be built without decompressing a single record.
 */
function allMatchFields(parsed: ParsedRequest): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const name of MATCHERS) fields[name] = matcherValue(name, parsed)
  return fields
}

/**
 * The index key for `matchOn` from the values of every matcher: the same text as `requestKey`
 * gives, without computing a matcher twice.
 */
function keyOfFields(fields: Record<string, unknown>, matchOn: readonly MatcherName[]): string {
  return JSON.stringify(matchOn.map((name) => fields[name]))
}

/** The index key of a record from its stored match fields. */
function keyFromFields(bytes: Buffer, matchOn: readonly MatcherName[], file: string, id: number): string {
  return keyOfFields(new Shape(file, 'match fields', id).obj(unpackr.unpack(bytes), ''), matchOn)
}

/**
 * True when two requests agree on every input the `matchOn` matchers read (method and URL, plus
 * headers and body when matched on): then their keys are equal, and the costlier key
 * comparison can be skipped.
 */
function sameKeyInputs(a: DVDRequest, b: DVDRequest, headers: boolean, body: boolean): boolean {
  if (a.method !== b.method || a.url !== b.url) return false
  if (headers) {
    if (a.headers.length !== b.headers.length) return false
    for (let i = 0; i < a.headers.length; i++) {
      const x = a.headers[i]!
      const y = b.headers[i]!
      if (x[0] !== y[0] || x[1] !== y[1]) return false
    }
  }
  if (!body) return true
  const ab = a.body ?? null
  const bb = b.body ?? null
  if (!ab || ab.length === 0 || !bb || bb.length === 0) return (ab?.length ?? 0) === (bb?.length ?? 0)
  return Buffer.from(ab.buffer, ab.byteOffset, ab.byteLength).equals(bb)
}

/** Closes a reader once the store holding it is garbage-collected. */
const readers = new FinalizationRegistry<BinaryReader>((reader) => {
  try {
    reader.close()
  } catch {
    // Already closed.
  }
})

/**
 * Records are decompressed one after another into slabs of this size, and their binary values
 * (bodies) stay views into the slab: no Buffer allocated and no body copied per replayed record.
 * A slab is garbage once no body decoded from it is referenced any more.
 */
const SLAB_BYTES = 64 * 1024

/**
 * A slab for {@link SLAB_BYTES}. Marked untransferable, as Node's own Buffer pool is: a consumer
 * cannot transfer (detach) a replayed body's ArrayBuffer, which would take the bytes of the other
 * bodies sharing the slab with it (`postMessage` throws on Node 21+, ignores it on Node 20). As
 * with the pool, a body kept alive keeps its whole slab alive.
 */
function newSlab(bytes: number): Buffer {
  const slab = Buffer.allocUnsafeSlow(bytes)
  markAsUntransferable(slab.buffer)
  return slab
}

/**
 * A candidate a binary store chose, read from the buffer its record was decompressed into (reused
 * by the store's next call) with the layout the native reader made, if any.
 */
class BinaryCandidate implements Candidate {
  #decoded: Recording | undefined

  constructor(
    readonly id: number,
    readonly position: number,
    readonly bytes: Buffer,
    readonly length: number,
    readonly layout: Uint32Array,
    readonly file: string,
  ) {}

  request(): DVDRequest {
    return this.#recording(false).request
  }

  outcome(): Outcome {
    // Only the response is built, and its body is a copy: `bytes` may be written again at once.
    if (hasLayout(this.layout)) return responseFromLayout(this.bytes, 0, this.layout)
    return this.#recording(true).outcome
  }

  /** The whole recording; `owned`: nothing in it refers to `bytes`. */
  #recording(owned: boolean): Recording {
    if (this.#decoded) return this.#decoded
    if (hasLayout(this.layout) && !owned) return recordingFromLayout(this.bytes, 0, this.layout)
    // Decoded from a copy, so that it outlives the store's next call.
    const copy = Buffer.from(this.bytes.subarray(0, this.length))
    this.#decoded = decodeRecording(copy, this.file, this.id)
    return this.#decoded
  }
}

/** A DVD store backed by an open binary file. */
export class BinaryStore implements RecordingStore {
  readonly reader: BinaryReader
  readonly file: string
  readonly #matchOn: readonly MatcherName[]
  /** In-memory index, built only when the file's index was made for another `matchOn`. */
  readonly #rebuilt: Map<string, Bucket> | undefined
  readonly #count: number
  /** Whether the key depends on the headers / the body (see sameKeyInputs). */
  readonly #keyHeaders: boolean
  readonly #keyBody: boolean
  /** Whether the reader keys requests from their dispatch parts (the native one does). */
  readonly #keysParts: boolean
  #slab = newSlab(SLAB_BYTES)
  /** Bytes of the slab already handed out (never written again). */
  #slabUsed = 0
  /** Where `find` decompresses the chosen record; nothing handed out refers to it. */
  readonly #scratch = Buffer.allocUnsafeSlow(SLAB_BYTES)
  /** What the reader writes each lookup's result into (see find_result.ts), and its layout part. */
  readonly #result = newResult()
  readonly #layout = this.#result.subarray(SLOT_LAYOUT)

  constructor(
    reader: BinaryReader,
    file: string,
    matchOn: readonly MatcherName[],
    warn: (line: string) => void,
  ) {
    this.reader = reader
    this.file = file
    this.#matchOn = matchOn
    this.#count = reader.count
    this.#keyHeaders = matchOn.includes('headers')
    this.#keyBody = matchOn.includes('body') || matchOn.includes('json_body')
    this.#keysParts = !(reader instanceof FallbackDvdReader)
    readers.register(this, reader, this)
    if (reader.matchOn !== matchOn.join(',')) {
      warn(
        `dvd-rw: ${file} is indexed for match_on=${reader.matchOn}, not ${matchOn.join(',')}; ` +
          `building an index in memory (dvd-convert reindex ${file} --match-on ${matchOn.join(',')} makes it permanent)`,
      )
      this.#rebuilt = this.#buildIndex()
    }
  }

  get count(): number {
    return this.#count
  }

  find(query: Query, from: number, plays: PlayCounts | null): Candidate | undefined {
    if (this.#rebuilt) return this.#findRebuilt(query, from, plays)
    const reader = this.reader
    const result = this.#result
    const counts = plays?.counts ?? null
    const parts = this.#keysParts ? query.parts : undefined
    for (;;) {
      let bytes = this.#scratch
      try {
        // One call finds the candidates, chooses one on its plays and decompresses it; a second
        // only for a request the reader cannot key or finds nowhere, or a record larger than the
        // scratch buffer.
        if (parts) reader.find(null, parts.method, parts.origin, parts.path, from, counts, bytes, 0, result)
        // Nothing under the key the reader computed: confirmed by TypeScript's own key, so that the
        // two ways of keying a request can only differ in cost.
        const again = result[SLOT_STATUS] === NOT_SIMPLE || (result[SLOT_STATUS] === NONE && from === 0)
        if (!parts || again) {
          reader.find(query.key(), '', '', '', from, counts, bytes, 0, result)
        }
        const status = result[SLOT_STATUS]
        if (status === NONE) return undefined
        if (status === NO_ROOM) {
          bytes = Buffer.allocUnsafeSlow(result[SLOT_LENGTH]!)
          reader.read(result[SLOT_ID]!, bytes, 0, result)
        }
      } catch (error) {
        throw asFormatError(this.file, error)
      }
      const position = result[SLOT_POSITION]!
      const found = new BinaryCandidate(
        result[SLOT_ID]!,
        position,
        bytes,
        result[SLOT_LENGTH]!,
        this.#layout,
        this.file,
      )
      // The file's index is keyed by a 64-bit hash: a candidate of another key is passed over.
      if (result[SLOT_SAME_REQUEST] === 1 || this.#sameKey(found.request(), query)) return found
      from = position + 1
    }
  }

  #sameKey(recorded: DVDRequest, query: Query): boolean {
    return (
      sameKeyInputs(recorded, query.request, this.#keyHeaders, this.#keyBody) ||
      keyOf(recorded, this.#matchOn) === query.key()
    )
  }

  #findRebuilt(query: Query, from: number, plays: PlayCounts | null): Candidate | undefined {
    const bucket = this.#rebuilt!.get(query.key())
    const position = bucket ? choose(bucket, from, plays) : -1
    if (position < 0) return undefined
    const id = bucket!.ids[position]!
    const recording = this.get(id)
    return { id, position, request: () => recording.request, outcome: () => recording.outcome }
  }

  get(id: number): Recording {
    const result = this.#result
    try {
      this.reader.read(id, this.#slab, this.#slabUsed, result)
      if (result[SLOT_STATUS] === NO_ROOM) {
        // The slab is full: start a new one (the old one lives on in the bodies decoded from it).
        this.#slab = newSlab(Math.max(SLAB_BYTES, result[SLOT_LENGTH]!))
        this.#slabUsed = 0
        this.reader.read(id, this.#slab, 0, result)
        // Only a file changed under the reader asks for more room twice; never let a negative
        // length move the slab's free end back over bodies already handed out.
        if (result[SLOT_STATUS] === NO_ROOM) {
          throw new DVDFormatError(this.file, '', `record ${id} changed size between two reads`, {
            code: 'DVD_ERR_CORRUPT',
          })
        }
      }
    } catch (error) {
      throw asFormatError(this.file, error)
    }
    const start = this.#slabUsed
    const length = result[SLOT_LENGTH]!
    this.#slabUsed += length
    return hasLayout(this.#layout)
      ? recordingFromLayout(this.#slab, start, this.#layout)
      : decodeRecording(this.#slab.subarray(start, start + length), this.file, id)
  }

  /** The stored MessagePack bytes of a record, for copying into a new file without decoding. */
  rawRecord(id: number): Buffer {
    return this.#call(() => this.reader.record(id))
  }

  /** The stored match fields of a record. */
  rawMatchFields(id: number): Buffer {
    return this.#call(() => this.reader.matchFields(id))
  }

  /** Releases the file now rather than when the store is garbage-collected. */
  close(): void {
    readers.unregister(this)
    this.reader.close()
  }

  #buildIndex(): Map<string, Bucket> {
    const index = new Map<string, Bucket>()
    for (let id = 0; id < this.reader.count; id++) {
      const key = keyFromFields(
        this.#call(() => this.reader.matchFields(id)),
        this.#matchOn,
        this.file,
        id,
      )
      const bucket = index.get(key)
      if (bucket) bucket.ids.push(id)
      else index.set(key, { ids: [id], firstUnplayed: 0 })
    }
    return index
  }

  #call<T>(fn: () => T): T {
    try {
      return fn()
    } catch (error) {
      throw asFormatError(this.file, error)
    }
  }
}

/** Opens a binary DVD as a store for the given `matchOn`. */
export function openBinaryStore(
  file: string,
  matchOn: readonly MatcherName[],
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): BinaryStore {
  const reader = openBinaryReader(file)
  try {
    return new BinaryStore(reader, file, matchOn, warn)
  } catch (error) {
    reader.close()
    throw error
  }
}

/** What a binary writer is fed: decoded recordings, or raw records copied from another binary file. */
export type BinarySource =
  | { kind: 'recording'; recording: Recording }
  | { kind: 'raw'; record: Buffer; matchFields: Buffer }

/**
 * The recordings of `base` as a binary writer takes them, those `keep` accepts: a binary file's
 * are copied as their stored bytes, never decoded.
 */
export function* baseSources(
  base: RecordingStore,
  keep: (id: number) => boolean = () => true,
): Generator<BinarySource> {
  for (let id = 0; id < base.count; id++) {
    if (!keep(id)) continue
    if (base instanceof BinaryStore) {
      yield { kind: 'raw', record: base.rawRecord(id), matchFields: base.rawMatchFields(id) }
    } else yield { kind: 'recording', recording: base.get(id) }
  }
}

/**
 * Writes a binary DVD record by record: the addon compresses each one into a temporary file as it
 * is added, and `finish()` writes the index and renames the file over the target (atomic).
 */
export class BinaryDVDWriter {
  readonly #writer: BinaryWriter
  readonly #file: string
  readonly #matchOn: readonly MatcherName[]
  #count = 0

  constructor(file: string, matchOn: readonly MatcherName[]) {
    this.#writer = createBinaryWriter(file, matchOn.join(','))
    this.#file = file
    this.#matchOn = matchOn
  }

  /** Records added so far. */
  get count(): number {
    return this.#count
  }

  /** Keeps a lookup index of the records added from now on, for {@link lookup} (before any add). */
  indexRecords(): void {
    this.#writer.indexRecords()
  }

  /**
   * Ids of the records added with a key of the same 64-bit hash as `key`, in order (candidates:
   * compare their own keys). Empty unless {@link indexRecords} was called before adding.
   */
  lookup(key: string): Uint32Array {
    return this.#writer.lookup(Buffer.from(key))
  }

  /** Record `id` as added, read back from the temporary file. */
  read(id: number): Recording {
    let bytes: Buffer
    try {
      bytes = this.#writer.read(id)
    } catch (error) {
      throw new DVDSaveError(this.#file, error, 'cannot read a recording back from its temporary file')
    }
    return decodeRecording(bytes, this.#file, id)
  }

  add(source: BinarySource): void {
    let record: Buffer
    let key: string
    let matchFields: Buffer
    if (source.kind === 'recording') {
      const fields = allMatchFields(new ParsedRequest(source.recording.request))
      record = encodeRecording(source.recording)
      key = keyOfFields(fields, this.#matchOn)
      matchFields = packr.pack(fields)
    } else {
      key = keyFromFields(source.matchFields, this.#matchOn, this.#file, this.#count)
      record = source.record
      matchFields = source.matchFields
    }
    try {
      this.#writer.add(record, Buffer.from(key), matchFields)
    } catch (error) {
      throw new DVDSaveError(this.#file, error, 'cannot write it')
    }
    this.#count++
  }

  finish(): void {
    try {
      this.#writer.finish()
    } catch (error) {
      throw new DVDSaveError(this.#file, error, 'cannot finish it')
    }
  }

  /**
   * `finish()` off the JavaScript thread: the index is written, the file fsynced and renamed on a
   * worker thread, and the promise settles once the target holds the new file.
   */
  async finishAsync(): Promise<void> {
    try {
      await this.#writer.finishAsync()
    } catch (error) {
      throw new DVDSaveError(this.#file, error, 'cannot finish it')
    }
  }

  /** Deletes the temporary file; the target is left as it was. */
  abort(): void {
    this.#writer.abort()
  }
}

/**
 * Writes a binary DVD atomically (temporary file, fsync, rename) from a sequence of sources.
 * `onProgress` is called after each record with the number written so far.
 */
export function writeBinary(
  file: string,
  sources: Iterable<BinarySource>,
  matchOn: readonly MatcherName[],
  onProgress?: (written: number) => void,
): number {
  const writer = addAll(file, sources, matchOn, onProgress)
  try {
    writer.finish()
  } catch (error) {
    writer.abort()
    throw asSaveError(file, error)
  }
  return writer.count
}

/**
 * {@link writeBinary} whose last step (index, fsync, rename) runs off the JavaScript thread: what a
 * DVD's `close()` awaits, so that saving does not block the rest of the process.
 */
export async function writeBinaryAsync(
  file: string,
  sources: Iterable<BinarySource>,
  matchOn: readonly MatcherName[],
): Promise<number> {
  const writer = addAll(file, sources, matchOn)
  try {
    await writer.finishAsync()
  } catch (error) {
    writer.abort()
    throw error
  }
  return writer.count
}

/** A writer with every source added (the records compressed into its temporary file). */
function addAll(
  file: string,
  sources: Iterable<BinarySource>,
  matchOn: readonly MatcherName[],
  onProgress?: (written: number) => void,
): BinaryDVDWriter {
  const writer = new BinaryDVDWriter(file, matchOn)
  try {
    for (const source of sources) {
      writer.add(source)
      onProgress?.(writer.count)
    }
  } catch (error) {
    writer.abort()
    throw asSaveError(file, error)
  }
  return writer
}

/** A recording that could not be read (from the DVD being converted) keeps its own error. */
function asSaveError(file: string, error: unknown): DVDError {
  return error instanceof DVDError ? error : new DVDSaveError(file, error, 'cannot write it')
}
