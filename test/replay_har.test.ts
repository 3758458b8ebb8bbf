import test from 'ava'
import { networkErrorSuite } from './suites/network_errors.js'
import { replaySuite } from './suites/replay.js'

replaySuite(test, 'har')
networkErrorSuite(test, 'har')
