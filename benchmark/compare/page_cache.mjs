// Every benchmark child starts with its files in the page cache, as they are right after being
// written: this machine can drop its page cache between runs (seen here: one replay of a binary DVD
// then read its records from disk at 4× the cost, and a DVD of 2.4 MB idle for some minutes was
// found two-thirds evicted), and a cold disk is not what these benchmarks compare.
import { closeSync, openSync, readSync } from 'node:fs'

const readBuffer = Buffer.allocUnsafe(4 << 20)

/** Reads each file once, start to end. */
export function warmPageCache(files) {
  for (const file of files) {
    const fd = openSync(file, 'r')
    try {
      while (readSync(fd, readBuffer, 0, readBuffer.length, null) > 0);
    } finally {
      closeSync(fd)
    }
  }
}
