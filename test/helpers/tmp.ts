import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const made: string[] = []

// Removed when the test file's worker exits, not after each test: a test may
// hand its DVD to a later assertion or keep it mapped until the end.
process.on('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // A directory still in use elsewhere is left to the OS's temp cleanup.
    }
  }
})

/** A fresh directory for one test's DVD files, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dvd-rw-test-'))
  made.push(dir)
  return dir
}
