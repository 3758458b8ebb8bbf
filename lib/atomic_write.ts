/**
 * The one way dvd-rw writes a file: create the missing folders, write a temporary file beside the
 * target, flush it to disk, then rename it over the target. Readers see the old file or the new
 * one, never half of one; a process that still has the old file open or mapped keeps reading the
 * old contents. JSON DVDs, the CLI's outputs and (through {@link prepareTarget}) binary DVDs, whose
 * temporary file the native writer fills, all go this way, and every failure is a
 * {@link DVDSaveError}.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { DVDError, DVDSaveError } from './errors.js'

/** Writes are batched into buffers of about this size. */
const BATCH_BYTES = 1 << 20

/**
 * Creates the folders above `file` that do not exist yet, so that a DVD can be saved into a new
 * folder (a test file's `__dvds__/<file>/`, a fresh clone's ignored output folder).
 */
export function prepareTarget(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true })
  } catch (cause) {
    throw new DVDSaveError(file, cause, `cannot create the folder ${dirname(file)}`)
  }
}

/** A new temporary file name beside `file`. */
function tempPath(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

/**
 * A file written piece by piece while a DVD is recorded: appended to a temporary file beside the
 * target, then flushed to disk and renamed over it by {@link commit}, or deleted by
 * {@link abort}. Pieces are gathered into batches of about 1 MiB, each written in one call; any
 * byte appended can be read back, written yet or not.
 */
export class AtomicFile {
  readonly file: string
  readonly temp: string
  #fd: number | undefined
  #pending: Buffer[] = []
  #pendingBytes = 0
  /** Bytes written to the temporary file so far. */
  #written = 0
  #committed = false

  /** Creates the missing folders and the temporary file. */
  constructor(file: string) {
    prepareTarget(file)
    this.file = file
    this.temp = tempPath(file)
    try {
      this.#fd = openSync(this.temp, 'wx+')
    } catch (cause) {
      throw new DVDSaveError(file, cause, `cannot create the temporary file ${this.temp}`)
    }
  }

  /** Bytes appended so far. */
  get size(): number {
    return this.#written + this.#pendingBytes
  }

  /** Appends `chunk`; returns its length in bytes. */
  append(chunk: string | Uint8Array): number {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    this.#pending.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    this.#pendingBytes += bytes.byteLength
    if (this.#pendingBytes >= BATCH_BYTES) this.#flush()
    return bytes.byteLength
  }

  /** `length` bytes appended from `position` on (from the target once committed). */
  read(position: number, length: number): Buffer {
    if (this.#committed) return readAt(this.file, position, length)
    if (position + length > this.#written) this.#flush()
    try {
      return readFully(this.#open(), this.temp, position, length)
    } catch (cause) {
      throw new DVDSaveError(this.file, cause, `cannot read back ${this.temp}`)
    }
  }

  /** Writes what is left, flushes the file to disk and renames it over the target. */
  commit(): void {
    let step = `cannot write ${this.temp}`
    try {
      this.#flush()
      step = `cannot flush ${this.temp} to disk`
      fsyncSync(this.#open())
      closeSync(this.#open())
      this.#fd = undefined
      step = `cannot rename ${this.temp} onto it`
      renameSync(this.temp, this.file)
      this.#committed = true
    } catch (cause) {
      this.abort()
      throw cause instanceof DVDSaveError ? cause : new DVDSaveError(this.file, cause, step)
    }
  }

  /** Deletes the temporary file; the target is left as it was. Idempotent. */
  abort(): void {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
    this.#pending = []
    rmSync(this.temp, { force: true })
  }

  #open(): number {
    if (this.#fd === undefined) throw new Error(`${this.temp} is closed`)
    return this.#fd
  }

  #flush(): void {
    if (this.#pendingBytes === 0) return
    const batch = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending)
    try {
      let done = 0
      while (done < batch.length)
        done += writeSync(this.#open(), batch, done, batch.length - done, this.#written + done)
    } catch (cause) {
      throw new DVDSaveError(this.file, cause, `cannot write ${this.temp}`)
    }
    this.#written += batch.length
    this.#pending = []
    this.#pendingBytes = 0
  }
}

/** `length` bytes of `file` from `position` on. */
function readAt(file: string, position: number, length: number): Buffer {
  const fd = openSync(file, 'r')
  try {
    return readFully(fd, file, position, length)
  } finally {
    closeSync(fd)
  }
}

/** `length` bytes of the open file `fd` from `position` on. */
function readFully(fd: number, file: string, position: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length)
  let done = 0
  while (done < length) {
    const n = readSync(fd, bytes, done, length - done, position + done)
    if (n === 0) throw new Error(`${file} is shorter than what was written to it`)
    done += n
  }
  return bytes
}

/** Replaces `file` with the concatenation of `chunks`, atomically. */
export async function writeFileAtomic(
  file: string,
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
): Promise<void> {
  const dir = dirname(file)
  const temp = tempPath(file)
  let step = `cannot create the folder ${dir}`
  try {
    await mkdir(dir, { recursive: true })
    step = `cannot create the temporary file ${temp}`
    const handle = await open(temp, 'wx')
    try {
      step = `cannot write ${temp}`
      let batch: Buffer[] = []
      let size = 0
      for await (const chunk of chunks) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
        batch.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
        size += bytes.byteLength
        if (size >= BATCH_BYTES) {
          await handle.write(Buffer.concat(batch))
          batch = []
          size = 0
        }
      }
      if (size > 0) await handle.write(Buffer.concat(batch))
      step = `cannot flush ${temp} to disk`
      await handle.sync()
    } finally {
      await handle.close()
    }
    step = `cannot rename ${temp} onto it`
    await rename(temp, file)
  } catch (cause) {
    await rm(temp, { force: true }).catch(() => {})
    // What the chunks themselves threw (a DVD being read while converting) is not a write failure.
    if (cause instanceof DVDError) throw cause
    throw new DVDSaveError(file, cause, step)
  }
}
