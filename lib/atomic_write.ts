/**
 * Atomic file replacement: write a temporary file beside the target, flush it to disk, then rename
 * it over the target. Readers see the old file or the new one, never half of one; a process that
 * still has the old file open or mapped keeps reading the old contents.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { DVDSaveError } from './errors.js'

/** Writes are batched into buffers of about this size. */
const BATCH_BYTES = 1 << 20

/** Replaces `file` with the concatenation of `chunks`, atomically. */
export async function writeFileAtomic(file: string, chunks: Iterable<string | Uint8Array>): Promise<void> {
  const dir = dirname(file)
  const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    await mkdir(dir, { recursive: true })
    const handle = await open(temp, 'wx')
    try {
      let batch: Buffer[] = []
      let size = 0
      for (const chunk of chunks) {
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
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (cause) {
    await rm(temp, { force: true }).catch(() => {})
    throw new DVDSaveError(file, cause)
  }
}
