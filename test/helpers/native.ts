/**
 * The native addon, loaded directly for tests that compare against it (the library itself goes
 * through `lib/native.ts`, which may fall back to TypeScript).
 */
import { createRequire } from 'node:module'
import type { NativeDvdReader, NativeDvdWriter, xxh64Key } from '../../native/index.js'

/** The addon's exports, as declared in `native/index.d.ts`. */
export interface NativeModule {
  NativeDvdReader: typeof NativeDvdReader
  NativeDvdWriter: typeof NativeDvdWriter
  xxh64Key: typeof xxh64Key
}

/** Path from `dist/test/helpers/` (where this runs) to the addon's loader. */
export const native = createRequire(import.meta.url)('../../../native/index.js') as NativeModule
