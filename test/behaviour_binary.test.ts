import test from 'ava'
import { binaryBackend } from '../lib/native.js'
import { behaviourSuites } from './suites/behaviour.js'

test('binary DVDs are read by the native addon in this file', (t) => {
  t.is(binaryBackend(), 'native')
})

// Every behaviour suite, with binary DVDs (replay and network errors: replay_binary.test.ts).
behaviourSuites(test, 'binary')
