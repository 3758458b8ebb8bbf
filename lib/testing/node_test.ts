/**
 * `dvd-rw/node-test`: one DVD per `node:test` test.
 *
 * ```js
 * import { test } from 'node:test'
 * import { withDVD } from 'dvd-rw/node-test'
 *
 * test('lists users', withDVD(async (t, dvd) => {
 *   const res = await fetch(url, { dispatcher: dvd.dispatcher })
 * }))
 * ```
 *
 * A wrapper rather than `beforeEach`/`afterEach`: node:test hooks cannot see whether the test
 * passed, while the wrapper sees its function resolve or throw, and it composes with `test`, `it`,
 * `describe` and subtests alike.
 *
 * @module dvd-rw/node-test
 */
import type { TestContext } from 'node:test'
import { dvdPathFor, routeTests, TestDVD, type TestDVDOptions } from './common.js'

export { dvdFileName, dvdPathFor, TestDVD, type TestDVDOptions } from './common.js'

/** Options of {@link withDVD}. */
export interface NodeTestDVDOptions extends TestDVDOptions {
  /**
   * The test file (a path or `import.meta.url`), which places and names the DVDs. Default: the
   * test's `t.filePath` (Node ≥ 22.6), else the running script (`node --test` runs each file in
   * its own process).
   */
  file?: string
}

type Context = TestContext & { fullName?: string; filePath?: string }

/**
 * Wraps a test function: it receives the test context and its own DVD, named from the test's full
 * name (`t.fullName`, parents included) under `__dvds__/<test file name>/` next to the test file.
 * Use `dvd.dispatcher` (or `dvd.fetch`) for the test's HTTP calls. The DVD is opened on the first
 * request and saved only when the function resolves; when it throws, the file is left as it was.
 */
export function withDVD(
  fn: (t: TestContext, dvd: TestDVD) => unknown,
  options: NodeTestDVDOptions = {},
): (t: TestContext) => Promise<void> {
  const { file: fileOption, ...dvdOptions } = options
  routeTests()
  return async (t: TestContext) => {
    const context = t as Context
    const title = context.fullName ?? t.name
    const file = fileOption ?? context.filePath ?? process.argv[1]
    if (!file)
      throw new Error(
        'dvd-rw/node-test: cannot tell the test file; pass withDVD(fn, { file: import.meta.url })',
      )
    const dvd = new TestDVD(title, dvdPathFor(file, title, dvdOptions), dvdOptions)
    let passed = false
    try {
      await dvd.run(() => fn(t, dvd))
      passed = true
    } finally {
      // The TAP reporter prints a failed fetch as `fetch failed` without its cause: add what dvd-rw said.
      if (!passed) for (const error of dvd.errors) t.diagnostic(error.message)
      await dvd.finish(passed)
    }
  }
}
