/**
 * `dvd-rw/vitest`: one DVD per vitest test.
 *
 * ```js
 * import { test } from 'vitest'
 * import { useDVD } from 'dvd-rw/vitest'
 *
 * useDVD()
 * test('lists users', async ({ dvd }) => {
 *   const res = await fetch(url, { dispatcher: dvd.dispatcher })
 * })
 * ```
 *
 * A `beforeEach` hook that puts the DVD on the test context (vitest's way to share per-test state,
 * safe with `test.concurrent`), and returns its cleanup, which vitest runs after `afterEach` hooks,
 * when the test's final state is known.
 *
 * @module dvd-rw/vitest
 */
import { beforeEach, type TestContext } from 'vitest'
import { dvdPathFor, routeTests, TestDVD, type TestDVDOptions } from './common.js'

export { dvdFileName, dvdPathFor, TestDVD, type TestDVDOptions } from './common.js'

declare module 'vitest' {
  export interface TestContext {
    /** This test's DVD, set by `useDVD()` from `dvd-rw/vitest`. */
    dvd: TestDVD
  }
}

/** The test context inside the scope of `useDVD()` (the augmentation above also adds `dvd` to vitest's own). */
export type DVDTestContext = TestContext & { dvd: TestDVD }

interface TaskLike {
  name: string
  fullTestName?: string
  suite?: TaskLike
  file?: { filepath: string }
}

function fullTitle(task: TaskLike): string {
  if (task.fullTestName) return task.fullTestName
  const names: string[] = []
  for (let t: TaskLike | undefined = task; t?.suite; t = t.suite) names.unshift(t.name)
  return names.length > 0 ? names.join(' > ') : task.name
}

/**
 * Gives every test in scope (the file, or the `describe` it is called in) its own DVD as
 * `context.dvd`, named from the test's full name (`describe > test`) under
 * `__dvds__/<test file name>/` next to the test file (option `dir`). Use `dvd.dispatcher` (or
 * `dvd.fetch`) for the test's HTTP calls. The DVD is opened on the first request and saved after
 * the test only if it passed; a failed test leaves the file as it was.
 */
export function useDVD(options: TestDVDOptions = {}): void {
  routeTests()
  beforeEach((context: TestContext) => {
    const task = context.task as unknown as TaskLike
    const title = fullTitle(task)
    const file = task.file?.filepath
    if (!file) throw new Error('dvd-rw/vitest: the test has no file')
    const dvd = new TestDVD(title, dvdPathFor(file, title, options), options)
    context.dvd = dvd
    // vitest runs a test's beforeEach hooks in the test's own async context (test.concurrent too).
    dvd.enter()
    return async () => {
      await dvd.finish(context.task.result?.state === 'pass')
    }
  })
}
