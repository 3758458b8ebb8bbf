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
 * Hooks make and close each test's DVD (ava gives every test its own `t.context` and runs
 * `afterEach.always` with `t.passed`); the returned `test` runs each implementation or macro in its
 * DVD's async context (including `test.serial`, `test.failing`, `test.only`).
 *
 * @module dvd-rw/ava
 */
import type { ExecutionContext, TestFn } from 'ava'
import { dvdPathFor, routeTests, TestDVD, type TestDVDOptions } from './common.js'

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

/** The declarations whose implementations run in their test's context (hooks are left alone). */
const DECLARATIONS = new Set<PropertyKey>(['serial', 'only', 'failing'])

type Implementation = (t: ExecutionContext<unknown>, ...args: unknown[]) => unknown

/** `impl` run in the async context of its test's DVD, so that the code under test reaches it. */
function bound(impl: Implementation): Implementation {
  return function (this: unknown, t, ...args) {
    const dvd = (t.context as Partial<DVDContext> | undefined)?.dvd
    return dvd ? dvd.run(() => impl.call(this, t, ...args)) : impl.call(this, t, ...args)
  }
}

/** A declaration (`test`, `test.serial`, …) whose implementations or macros run bound to their DVD. */
function declaring<T extends object>(declare: T): T {
  return new Proxy(declare, {
    apply(target, self, args: unknown[]) {
      const at = args.findIndex((a) => typeof a !== 'string')
      const impl = args[at] as Implementation | { exec?: Implementation } | undefined
      if (typeof impl === 'function') args[at] = bound(impl)
      else if (impl && typeof impl === 'object' && typeof impl.exec === 'function')
        args[at] = { ...impl, exec: bound(impl.exec) }
      return Reflect.apply(target as (...a: unknown[]) => unknown, self, args)
    },
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      return DECLARATIONS.has(prop) && typeof value === 'function' ? declaring(value) : value
    },
  })
}

/**
 * Gives every test of this file its own DVD in `t.context.dvd`, under
 * `__dvds__/<test file name>/<title slug>-<hash>.dvd.json` next to the test file (option `dir`),
 * and runs each test's implementation in that DVD's async context: the global `fetch`, undici and
 * `node:http` clients used by the code under test reach it, while ava runs the file's tests
 * concurrently, each with its own DVD. `t.context.dvd.dispatcher` and `t.context.dvd.fetch` work
 * too. The DVD is opened on the first request and saved after the test only if it passed; a failed
 * test leaves the file as it was. Returns `test`, typed with the DVD context.
 */
export function useDVD<Context = unknown>(
  test: TestFn<Context>,
  options: TestDVDOptions = {},
): TestFn<Context & DVDContext> {
  const typed = test as unknown as TestFn<Context & DVDContext>
  routeTests()
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
  // A wrapper around the implementations: ava starts a file's tests concurrently, so a context
  // entered in a beforeEach hook would leak from one test into another.
  return declaring(typed)
}
