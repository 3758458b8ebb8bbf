import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh directory for one test's DVD files. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dvd-rw-test-'))
}
