/**
 * The one way dvd-rw writes a file: create the missing folders, write a temporary file beside the
 * target, flush it to disk, then rename it over the target. Readers see the old file or the new
 * one, never half of one; a process that still has the old file open or mapped keeps reading the
 * old contents. JSON DVDs, the CLI's outputs and (through {@link prepareTarget}) binary DVDs, whose
 * temporary file the native writer fills, all go this way, and every failure is a
 * {@link DVDSaveError}.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
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

/** Replaces `file` with the concatenation of `chunks`, atomically. */
export async function writeFileAtomic(
  file: string,
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
): Promise<void> {
  const dir = dirname(file)
  const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
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
