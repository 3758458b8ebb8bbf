import test from 'ava'
import { nodeHttpSuite } from './suites/node_http.js'

nodeHttpSuite(test, 'binary')
