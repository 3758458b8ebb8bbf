/**
 * `dvd-rw/jest`: one DVD per Jest test, from a CommonJS test file or an ES module one.
 *
 * ```js
 * const { useDVD } = require('dvd-rw/jest') // or: import { useDVD } from 'dvd-rw/jest'
 *
 * const dvd = useDVD()
 * test('lists users', async () => {
 *   const res = await dvd.current.fetch('https://api.example.com/users')
 *   expect(res.status).toBe(200)
 * })
 * ```
 *
 * A `beforeEach` hook makes the test's DVD, an `afterEach` hook closes it, saving it only when the
 * test passed. Jest tells hooks nothing of the test's outcome; its runner (jest-circus) keeps the
 * errors of the running test in its state on the global object, which is read here.
 *
 * @module dvd-rw/jest
 */
import { dvdPathFor, routeTests, TestDVD, type TestDVDOptions } from './common.js'

export { dvdFileName, dvdPathFor, TestDVD, type TestDVDOptions } from './common.js'

/** The per-test DVD of a file (or `describe`) in scope of {@link useDVD}. */
export interface JestDVDs {
  /** The running test's DVD; throws outside a test. */
  readonly current: TestDVD
}

type Hook = (fn: () => unknown) => void

interface JestGlobals {
  beforeEach: Hook
  afterEach: Hook
  expect: { getState(): { currentTestName?: string; testPath?: string } }
}

interface CircusTest {
  errors: unknown[]
}

function jestGlobals(): JestGlobals {
  const g = globalThis as unknown as Partial<JestGlobals>
  if (typeof g.beforeEach !== 'function' || typeof g.afterEach !== 'function' || !g.expect?.getState) {
    throw new Error(
      'dvd-rw/jest: useDVD() needs the Jest globals (beforeEach, afterEach, expect); call it at the top ' +
        'of a test file run by Jest, with injectGlobals left on',
    )
  }
  return g as JestGlobals
}

/** The test jest-circus is running: its `errors` hold what failed the test so far. */
function runningTest(): CircusTest | undefined {
  const key = Object.getOwnPropertySymbols(globalThis).find((s) => s.description === 'JEST_STATE_SYMBOL')
  const state = key
    ? (globalThis as unknown as Record<symbol, { currentlyRunningTest?: CircusTest }>)[key]
    : undefined
  return state?.currentlyRunningTest ?? undefined
}

/** The DVD of the test running now (jest-circus runs a file's tests one at a time). */
let running: TestDVD | undefined

type TestFnLike = (this: unknown, ...args: unknown[]) => unknown

/**
 * `fn` run bound to the running test's DVD: Jest's `beforeEach` hooks do not share the test's async
 * context, so the test function itself must enter it. Keeps `fn.length`, by which Jest tells a
 * `done` callback.
 */
function bound(fn: TestFnLike): TestFnLike {
  const call = (self: unknown, args: unknown[]) =>
    running ? running.run(() => fn.apply(self, args)) : fn.apply(self, args)
  return fn.length > 0
    ? function (this: unknown, done: unknown) {
        return call(this, [done])
      }
    : function (this: unknown, ...args: unknown[]) {
        return call(this, args)
      }
}

const WRAPPED = Symbol('dvd-rw bound')

/** A declaration (`test`, `it`, `test.only`, `test.each(…)`) whose test functions run bound. */
function declaring<T extends object>(declare: T): T {
  if ((declare as Record<symbol, unknown>)[WRAPPED]) return declare
  return new Proxy(declare, {
    apply(target, self, args: unknown[]) {
      const at = args.findIndex((a) => typeof a === 'function')
      if (at !== -1) args[at] = bound(args[at] as TestFnLike)
      const result = Reflect.apply(target as (...a: unknown[]) => unknown, self, args)
      // `test.each(table)` returns the declaration to call with the title and the function.
      return typeof result === 'function' ? declaring(result) : result
    },
    get(target, prop, receiver) {
      if (prop === WRAPPED) return true
      const value = Reflect.get(target, prop, receiver)
      return ['only', 'failing', 'each', 'concurrent'].includes(String(prop)) && typeof value === 'function'
        ? declaring(value)
        : value
    },
  })
}

/**
 * Gives every test in scope (the file, or the `describe` it is called in) its own DVD, named from
 * the test's full name (`describe test`) under `__dvds__/<test file name>/` next to the test file
 * (option `dir`), and runs each test function bound to it: the global `fetch`, undici and
 * `node:http` clients used by the code under test reach it. The DVD is opened on the first request
 * and saved after the test only if it passed; a failed test leaves the file as it was. Call it
 * before the tests are declared: it wraps the global `test` and `it`.
 */
export function useDVD(options: TestDVDOptions = {}): JestDVDs {
  const { beforeEach, afterEach, expect } = jestGlobals()
  routeTests()
  const g = globalThis as Record<string, unknown>
  for (const name of ['test', 'it']) if (typeof g[name] === 'function') g[name] = declaring(g[name] as object)
  let current: TestDVD | undefined
  beforeEach(() => {
    const { currentTestName, testPath } = expect.getState()
    if (!currentTestName || !testPath) throw new Error('dvd-rw/jest: Jest did not name the running test')
    current = new TestDVD(currentTestName, dvdPathFor(testPath, currentTestName, options), options)
    running = current
  })
  afterEach(async () => {
    const dvd = current
    current = undefined
    running = undefined
    // Without the runner's state (another runner under Jest's API), a DVD is saved only when no
    // request failed through dvd-rw.
    const test = runningTest()
    await dvd?.finish(test ? test.errors.length === 0 : dvd.errors.length === 0)
  })
  return {
    get current(): TestDVD {
      if (!current) throw new Error('dvd-rw/jest: there is no DVD outside a test (use it inside test())')
      return current
    },
  }
}
