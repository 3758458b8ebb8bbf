/**
 * `dvd-rw/ava`: one DVD per ava test.
 *
 * ```js
 * import anyTest from 'ava'
 * import { useDVD } from 'dvd-rw/ava'
 *
 * const test = useDVD(anyTest)
 * test('lists users', async (t) => {
 *   const res = await fetch(url, { dispatcher: t.context.dvd.dispatcher })
 * })
 * ```
 *
 * Hooks rather than a wrapper: ava already gives every test its own `t.context` and runs
 * `afterEach.always` with `t.passed`, so registering the hooks once per file covers every test
 * (including `test.serial`, `test.failing`, macros) without touching their implementations.
 */
import type { ExecutionContext, TestFn } from 'ava'
import { dvdPathFor, TestDVD, type TestDVDOptions } from './common.js'

export { dvdFileName, dvdPathFor, TestDVD, type TestDVDOptions } from './common.js'

/** The context `useDVD` gives each test: `t.context.dvd`. */
export interface DVDContext {
  dvd: TestDVD
}

/** The title of the hooks `useDVD` registers; ava reports them as `dvd-rw for <test title>`. */
const HOOK = 'dvd-rw'

function testTitle(t: ExecutionContext<unknown>): string {
  const prefix = `${HOOK} for `
  return t.title.startsWith(prefix) ? t.title.slice(prefix.length) : t.title
}

/**
 * Gives every test of this file its own DVD in `t.context.dvd`, under
 * `__dvds__/<test file name>/<title slug>-<hash>.dvd.json` next to the test file (option `dir`).
 * Use `t.context.dvd.dispatcher` (or `t.context.dvd.fetch`) for the test's HTTP calls: the DVD is
 * never installed globally, since ava runs the tests of a file concurrently. The DVD is opened on
 * the first request and saved after the test only if it passed; a failed test leaves the file as it
 * was. Returns `test`, typed with the DVD context.
 */
export function useDVD<Context = unknown>(
  test: TestFn<Context>,
  options: TestDVDOptions = {},
): TestFn<Context & DVDContext> {
  const typed = test as unknown as TestFn<Context & DVDContext>
  typed.beforeEach(HOOK, (t) => {
    const title = testTitle(t)
    const dvd = new TestDVD(title, dvdPathFor(typed.meta.file, title, options), options)
    if (t.context !== null && typeof t.context === 'object') t.context.dvd = dvd
    else t.context = { dvd } as Context & DVDContext
  })
  typed.afterEach.always(HOOK, async (t) => {
    const dvd = t.context?.dvd
    if (!dvd) return
    // ava reports a failed fetch as `fetch failed` without its cause: show what dvd-rw said.
    if (!t.passed) for (const error of dvd.errors) t.log(error.message)
    // `t.passed` in an afterEach.always hook: whether the test (and its beforeEach hooks) passed.
    await dvd.finish(t.passed)
  })
  return typed
}
