import test from 'ava'
import { binaryBackend } from '../lib/native.js'
import { behaviourSuites } from './suites/behaviour.js'

// Every behaviour suite, with binary DVDs read by the TypeScript reader (as on a platform without
// the addon); files are still written by the addon. Replay and network errors:
// replay_binary_fallback.test.ts.
process.env.DVD_RW_NATIVE = '0'

test('binary DVDs are read by the TypeScript reader in this file', (t) => {
  t.is(binaryBackend(), 'typescript')
})

behaviourSuites(test, 'binary')
