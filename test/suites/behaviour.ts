import type { TestFn } from 'ava'
import type { Format } from './format.js'
import { hooksSuite } from './hooks.js'
import { modesSuite } from './modes.js'
import { requestBodiesSuite } from './request_bodies.js'
import { savingSuite } from './saving.js'
import { secretsSuite } from './secrets.js'
import { unmatchedSuite } from './unmatched.js'
import { unusedSuite } from './unused.js'

/** Registers every behaviour suite (besides replay and network errors) for DVDs stored in `format`. */
export function behaviourSuites(test: TestFn, format: Format): void {
  modesSuite(test, format)
  hooksSuite(test, format)
  unmatchedSuite(test, format)
  requestBodiesSuite(test, format)
  savingSuite(test, format)
  unusedSuite(test, format)
  secretsSuite(test, format)
}
