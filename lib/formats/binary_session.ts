/**
 * A binary DVD written while it is recorded (see streamed_session.ts): each recording goes to the
 * native writer, which compresses it into the temporary file on threads of its own and keeps per
 * record its offset, length, key hash and compressed match fields, plus a hash index of the keys
 * when the session's recordings are looked up. A recording is read back with a positioned read and
 * LZ4 decoding; one not on disk yet is written out first.
 */
import type { RecordingStore } from '../dvd.js'
import type { MatcherName } from '../matchers.js'
import type { Recording } from '../model.js'
import { BinaryDVDWriter, type BinaryStore, baseSources, openBinaryStore } from './binary.js'
import type { SessionFile, SessionFormat } from './streamed_session.js'

class BinarySessionFile implements SessionFile {
  readonly #writer: BinaryDVDWriter
  readonly #file: string
  readonly #matchOn: readonly MatcherName[]
  /** The DVD file once saved, where recordings are read then. */
  #saved: BinaryStore | undefined
  #finished = false

  constructor(file: string, matchOn: readonly MatcherName[], lookups: boolean) {
    this.#writer = new BinaryDVDWriter(file, matchOn)
    this.#file = file
    this.#matchOn = matchOn
    if (lookups) this.#writer.indexRecords()
  }

  add(recording: Recording): void {
    this.#writer.add({ kind: 'recording', recording })
  }

  copy(base: RecordingStore): void {
    for (const source of baseSources(base)) this.#writer.add(source)
  }

  lookup(key: string): Iterable<number> {
    return this.#writer.lookup(key)
  }

  read(id: number): Recording {
    if (!this.#finished) return this.#writer.read(id)
    this.#saved ??= openBinaryStore(this.#file, this.#matchOn)
    return this.#saved.get(id)
  }

  async finish(): Promise<void> {
    // The index is written, the file fsynced and renamed off the JavaScript thread.
    await this.#writer.finishAsync()
    this.#finished = true
  }

  abort(): void {
    this.#writer.abort()
  }
}

/** How a session records into the binary DVD `file`. */
export function binarySessionFormat(file: string, matchOn: readonly MatcherName[]): SessionFormat {
  return (lookups) => new BinarySessionFile(file, matchOn, lookups)
}
