import test from 'ava'
import { networkErrorSuite } from './suites/network_errors.js'
import { replaySuite } from './suites/replay.js'
import { streamSuite } from './suites/streams.js'

replaySuite(test, 'har')
networkErrorSuite(test, 'har')
streamSuite(test, 'har')
