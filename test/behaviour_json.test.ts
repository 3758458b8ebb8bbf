import test from 'ava'
import { behaviourSuites } from './suites/behaviour.js'

// Every behaviour suite, with JSON DVDs (replay and network errors: replay_json.test.ts).
behaviourSuites(test, 'json')
