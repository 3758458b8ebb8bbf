/**
 * `dvd-rw/ava` in a real run of the runner on test/fixtures/runners/ava (see its driver).
 */
import test from 'ava'
import {
  ciStory,
  concurrentStory,
  moduleScopeStory,
  otherClientsStory,
  recordReplayStory,
} from './fixtures/runners/driver.js'

test('records passing tests, keeps DVDs of failing ones, replays offline, re-records on demand', (t) =>
  recordReplayStory(t, 'ava'))

test('under CI=true, a test without requests passes and a missing DVD fails the test', (t) =>
  ciStory(t, 'ava'))

test('two tests running at once each record and replay their own answer for the same URL', (t) =>
  concurrentStory(t, 'ava'))

test('a request at module scope goes to the network with a warning, and fails under CI=true saying why', (t) =>
  moduleScopeStory(t, 'ava'))

test('the code under test reaches the test DVD through axios and undici.request too', (t) =>
  otherClientsStory(t, 'ava'))
