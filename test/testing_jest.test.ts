/**
 * `dvd-rw/jest` in real runs of Jest on test/fixtures/runners/jest (a CommonJS test file, as a
 * default Jest project has, loaded through the package's `require` entry) and jest-esm (an ES
 * module test file, run with --experimental-vm-modules). See the driver.
 */
import test from 'ava'
import { ciStory, moduleScopeStory, recordReplayStory } from './fixtures/runners/driver.js'

for (const runner of ['jest', 'jest-esm'] as const) {
  test(`${runner}: records passing tests, keeps DVDs of failing ones, replays offline, re-records on demand`, (t) =>
    recordReplayStory(t, runner))

  test(`${runner}: under CI=true, a test without requests passes and a missing DVD fails the test`, (t) =>
    ciStory(t, runner))

  test(`${runner}: a request at module scope goes to the network with a warning, and fails under CI=true saying why`, (t) =>
    moduleScopeStory(t, runner))
}
