import test from 'ava'
import { binaryBackend } from '../lib/native.js'
import { networkErrorSuite } from './suites/network_errors.js'
import { replaySuite } from './suites/replay.js'
import { streamSuite } from './suites/streams.js'

// The same specification, with binary DVDs read by the TypeScript reader (as on a platform
// without the addon); files are still written by the addon.
process.env.DVD_RW_NATIVE = '0'

test('binary DVDs are read by the TypeScript reader in this file', (t) => {
  t.is(binaryBackend(), 'typescript')
})

replaySuite(test, 'binary')
networkErrorSuite(test, 'binary')
streamSuite(test, 'binary')
