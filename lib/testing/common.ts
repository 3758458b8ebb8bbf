/**
 * What the test-runner helpers (`dvd-rw/ava`, `dvd-rw/node-test`, `dvd-rw/vitest`) share: one DVD
 * file per test, named from the test file and the test's title, opened lazily on the first request
 * and saved only when the test passed.
 */
import { createHash } from 'node:crypto'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Dispatcher, getGlobalDispatcher } from 'undici'
import { type LegacyHandler, toLegacyHandler } from '../handlers.js'
import {
  DVDError,
  DVDLoader,
  type DVDOptions,
  type LoadedDVD,
  type RecordMode,
  resolveMode,
} from '../index.js'
import { installGlobal } from '../install.js'
import { ContextDispatcher } from '../intercept/context_dispatcher.js'
import { holdNodeHttp } from '../intercept/node_http.js'
import { type Binding, bindTest, guardOutsideTests, unbind } from '../intercept/route.js'
import { DetachedDispatcher } from '../intercept.js'

/** Options of the test-runner helpers: every `DVDLoader.open` option, plus where the files go. */
export interface TestDVDOptions extends DVDOptions {
  /**
   * Directory of the DVD files. Default: `__dvds__/<test file name>/` next to the test file (for
   * tests compiled to another directory, e.g. `dist/`, point it back at the sources).
   */
  dir?: string
  /** File name ending: `.dvd.json` (default, Python dvd-rw compatible) or `.dvd.lz4` (binary). */
  extension?: string
}

/** The helper's own option names, removed before the rest goes to `DVDLoader.open`. */
function loaderOptions(options: TestDVDOptions): DVDOptions {
  const { dir: _dir, extension: _extension, ...rest } = options
  return rest
}

/** A test file given as a path or a `file:` URL (`import.meta.url`, ava's `test.meta.file`), as a path. */
export function testFilePath(file: string): string {
  return file.startsWith('file:') ? fileURLToPath(file) : resolve(file)
}

/**
 * The file name of a test's DVD: a readable slug of the title plus 8 hex digits of the SHA-256 of
 * the exact title, so it is stable across runs and machines, safe on every file system, and two
 * titles never share a file even when their slugs are equal.
 */
export function dvdFileName(title: string, extension = '.dvd.json'): string {
  const slug =
    title
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+/, '')
      .slice(0, 60)
      .replace(/-+$/, '') || 'test'
  const hash = createHash('sha256').update(title, 'utf8').digest('hex').slice(0, 8)
  return `${slug}-${hash}${extension}`
}

/** Where the DVD of the test `title` in `testFile` lives. */
export function dvdPathFor(testFile: string, title: string, options: TestDVDOptions = {}): string {
  const file = testFilePath(testFile)
  const dir = options.dir ?? join(dirname(file), '__dvds__', basename(file))
  return resolve(dir, dvdFileName(title, options.extension))
}

/**
 * The handler as it is, except that an error dvd-rw raises on its way is also handed to `note`
 * (methods stay bound to the original handler).
 */
function watchErrors(handler: LegacyHandler, note: (error: Error) => void): LegacyHandler {
  return new Proxy(handler, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target)
      if (typeof value !== 'function') return value
      if (prop === 'onError') {
        return (error: Error) => {
          note(error)
          return value.call(target, error)
        }
      }
      return value.bind(target)
    },
  })
}

let routing = false

/**
 * Routes the process's requests by test, once: the global dispatcher becomes a
 * {@link ContextDispatcher} and `node:http` stays intercepted, so each test's requests reach the
 * DVD bound to its async context (whatever client the code under test uses), and those made outside
 * every test meet the helpers' policy. Called when a helper is set up; kept for the process's life
 * (a test file's process ends with its tests).
 */
export function routeTests(): void {
  if (routing) return
  routing = true
  guardOutsideTests()
  installGlobal(new ContextDispatcher(getGlobalDispatcher()))
  holdNodeHttp()
}

/** A dispatcher that opens its test's DVD on the first request, then hands every request to it. */
class LazyDispatcher extends DetachedDispatcher {
  readonly #dvd: TestDVD

  constructor(dvd: TestDVD) {
    super()
    this.#dvd = dvd
  }

  override dispatch(opts: Dispatcher.DispatchOptions, original: Dispatcher.DispatchHandler): boolean {
    // One handler shape (the legacy one every undici accepts), so errors have a single way in.
    const handler = watchErrors(toLegacyHandler(original), (error) => this.#dvd.noteError(error))
    const forward = handler as Dispatcher.DispatchHandler
    const fail = (error: Error) => {
      try {
        handler.onError?.(error)
      } catch {
        // A handler without an error path (undici would throw too): nothing is left to tell.
      }
    }
    const loaded = this.#dvd.loaded
    if (loaded) return loaded.dispatcher.dispatch(opts, forward)
    this.#dvd.open().then((dvd) => {
      try {
        dvd.dispatcher.dispatch(opts, forward)
      } catch (error) {
        fail(error as Error)
      }
    }, fail)
    return true
  }
}

/**
 * One test's DVD. Nothing is read or created until the first request goes through
 * {@link dispatcher} (or {@link open} is called), so a test that makes no HTTP call never needs a
 * file, even in mode `none`; a test that does make one in mode `none` without a file fails with
 * `DVDNotFoundError`, and one with a file but no matching recording with `UnmatchedRequestError`.
 */
export class TestDVD {
  /** The full title of the test. */
  readonly title: string
  /** Absolute path of the DVD file (which may not exist yet). */
  readonly file: string
  /**
   * The dispatcher to hand to `fetch(url, { dispatcher })`, `undici.request(url, { dispatcher })` or
   * an undici `Agent`-accepting client. Per test, never global, so concurrent tests stay apart.
   */
  readonly dispatcher: Dispatcher
  readonly #options: DVDOptions
  #opening: Promise<LoadedDVD> | undefined
  #loaded: LoadedDVD | undefined
  #finished = false
  readonly #errors: DVDError[] = []

  /** This test's async-context bindings (`run` or `enter`), ended when the test finishes. */
  readonly #bindings: Binding[] = []

  constructor(title: string, file: string, options: TestDVDOptions = {}) {
    this.title = title
    this.file = file
    this.#options = loaderOptions(options)
    this.dispatcher = new LazyDispatcher(this)
    routeTests()
  }

  /** The binding target: the DVD, opened on the first request that needs it. */
  readonly #target = async () => (await this.open()).dvd

  /**
   * Runs `fn` bound to this DVD: every request made in its async context (global `fetch`, undici,
   * `node:http` clients) goes to this DVD. What the helpers do with each test's implementation.
   */
  run<T>(fn: () => T): T {
    const { binding, result } = bindTest(this.#target, this.dispatcher, fn)
    this.#bindings.push(binding)
    return result as T
  }

  /**
   * Binds the calling async context to this DVD from now on: for runners whose `beforeEach` hooks
   * run in the test's own context (vitest, Jest), where the implementation cannot be wrapped.
   */
  enter(): void {
    this.#bindings.push(bindTest(this.#target, this.dispatcher).binding)
  }

  /** The record mode in force for this test (after `DVD_RECORD_MODE` and `CI`). */
  get mode(): RecordMode {
    const options = this.#options as DVDOptions & { record_mode?: RecordMode }
    return resolveMode(options.recordMode ?? options.record_mode)
  }

  /** The open DVD, once the first request (or {@link open}) opened it. */
  get loaded(): LoadedDVD | undefined {
    return this.#loaded
  }

  /**
   * The errors dvd-rw raised for this test's requests (unmatched request, missing DVD…), in order.
   * Runners that do not print an error's `cause` (ava prints only `fetch failed`) show these when
   * the test fails.
   */
  get errors(): readonly DVDError[] {
    return this.#errors
  }

  /** Keeps `error` in {@link errors} when dvd-rw raised it. */
  noteError(error: unknown): void {
    if (error instanceof DVDError && !this.#errors.includes(error)) this.#errors.push(error)
  }

  /** Opens the DVD now (once); later calls return the same DVD. */
  open(): Promise<LoadedDVD> {
    if (this.#finished) return Promise.reject(new Error(`${this.file}: the test's DVD is already closed`))
    this.#opening ??= DVDLoader.open(this.file, this.#options).then((dvd) => {
      this.#loaded = dvd
      return dvd
    })
    return this.#opening
  }

  /** `fetch` through this test's DVD: the global `fetch` with {@link dispatcher}. */
  fetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    return fetch(input, { ...init, dispatcher: this.dispatcher } as unknown as RequestInit)
  }

  /**
   * Ends the test's use of the DVD: saves it when the test passed and something new was recorded;
   * when it failed, the file on disk is left exactly as it was. Called by the helpers.
   */
  async finish(passed: boolean): Promise<void> {
    if (this.#finished) return
    this.#finished = true
    // Requests still made in the test's context from now on (a timer it left) are outside it.
    for (const binding of this.#bindings) unbind(binding)
    if (!this.#opening) return
    let dvd: LoadedDVD
    try {
      dvd = await this.#opening
    } catch {
      return // the open error already reached the request that caused it
    }
    await dvd.close({ save: passed })
  }
}
