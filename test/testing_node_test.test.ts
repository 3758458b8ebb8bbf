/**
 * `dvd-rw/node-test` in a real run of the runner on test/fixtures/runners/node (see its driver).
 */
import test from 'ava'
import { ciStory, concurrentStory, moduleScopeStory, recordReplayStory } from './fixtures/runners/driver.js'

test('records passing tests, keeps DVDs of failing ones, replays offline, re-records on demand', (t) =>
  recordReplayStory(t, 'node'))

test('under CI=true, a test without requests passes and a missing DVD fails the test', (t) =>
  ciStory(t, 'node'))

test('two tests running at once each record and replay their own answer for the same URL', (t) =>
  concurrentStory(t, 'node'))

test('a request at module scope goes to the network with a warning, and fails under CI=true saying why', (t) =>
  moduleScopeStory(t, 'node'))
