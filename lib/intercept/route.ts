/**
 * Which DVD answers a request: the one bound to the request's async context, so that nested DVDs
 * form a stack (innermost wins) and DVDs bound in two concurrent async contexts (two tests running
 * at once) never see each other's traffic. A request made in a context that never had a DVD (work
 * started before the install, a pool's background task) goes to the DVD installed last, as fetch
 * does through the global dispatcher — except a test's DVD, which answers its own test only: while
 * a test-runner helper is in use, a request outside every test is refused under `CI=true` and
 * otherwise goes to the network with a warning (see {@link outsideTests}).
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Dispatcher } from 'undici'
import type { DVD } from '../dvd.js'
import { RequestOutsideTestError } from '../errors.js'
import { isCI } from '../options.js'

/** A DVD now, or one opened on the first request (a test's DVD). */
export type RouteTarget = DVD | (() => Promise<DVD>)

/** One binding of a DVD: it answers while `active`, then hands over to `parent`. */
export class Binding {
  active = true
  constructor(
    readonly target: RouteTarget,
    readonly parent: Binding | undefined,
    /** What answers fetch and undici for this binding, when the binding routes them (tests). */
    readonly dispatcher?: Dispatcher,
    /** A test's binding: it never answers requests from outside its test. */
    readonly scoped = false,
  ) {}

  /** The DVD, opened if it was not yet. */
  dvd(): DVD | Promise<DVD> {
    return typeof this.target === 'function' ? this.target() : this.target
  }
}

const context = new AsyncLocalStorage<Binding | null>()
// Tracking starts now rather than at the first install: enterWith on the continuation of a
// promise made while nothing tracked promises would bind the DVD to a context shared with
// unrelated work (the test runner's, for every test it starts).
context.run(null, () => {})
/** Every active binding that may answer unbound contexts, in installation order. */
const installed: Binding[] = []
/** Whether a test-runner helper is in use in this process (set once, for the process's life). */
let guarded = false

/**
 * Binds `dvd` to the calling async context (and what it starts from now on) and to the process,
 * for requests made outside any bound context.
 */
export function bind(dvd: DVD): Binding {
  const binding = new Binding(dvd, context.getStore() ?? undefined)
  installed.push(binding)
  // enterWith rather than run(): install() returns to its caller, whose later awaits must keep
  // seeing the DVD; the binding is switched off (not unwound) by unbind.
  context.enterWith(binding)
  return binding
}

/**
 * A test's binding of `target`, answering fetch through `dispatcher`: `fn` runs in it when given
 * (its async context ends with it), otherwise the calling context enters it (for runners whose
 * hooks share the test's context). Either way {@link unbind} ends it.
 */
export function bindTest<T>(
  target: RouteTarget,
  dispatcher: Dispatcher,
  fn?: () => T,
): { binding: Binding; result?: T } {
  const binding = new Binding(target, context.getStore() ?? undefined, dispatcher, true)
  if (fn) return { binding, result: context.run(binding, fn) }
  context.enterWith(binding)
  return { binding }
}

/** Ends a binding: requests in its context go to the DVD it covered again. */
export function unbind(binding: Binding): void {
  binding.active = false
  const at = installed.indexOf(binding)
  if (at !== -1) installed.splice(at, 1)
}

/** How many bindings may answer requests from any context (the interception is needed while there is one). */
export function boundCount(): number {
  return installed.length
}

/** The binding that answers a request made now, if any. */
export function activeBinding(): Binding | undefined {
  const bound = context.getStore()
  // A context that had DVDs and closed them all goes to the network, even while another
  // context's DVD is installed: a finished test must not record into a test still running.
  if (bound) {
    for (let binding: Binding | undefined = bound; binding; binding = binding.parent) {
      if (binding.active) return binding
    }
    return undefined
  }
  return installed.at(-1)
}

/** From now on, requests outside every test are refused or warned about (a test helper is in use). */
export function guardOutsideTests(): void {
  guarded = true
}

/** Origins already warned about, so that a request outside the tests warns once per origin. */
const warned = new Set<string>()

/**
 * What to do with a request (`METHOD url`) that no binding answers: `undefined` to let it reach
 * the network (with a one-line warning while a test helper is in use), or the error that refuses
 * it (a helper is in use and `CI=true`: CI never reaches the network).
 */
export function outsideTests(request: string): Error | undefined {
  if (!guarded) return undefined
  if (isCI()) {
    const error = new RequestOutsideTestError(request)
    // Runners that print a failed fetch as `fetch failed` without its cause (ava, at module
    // scope) would hide why: say it on stderr too.
    process.stderr.write(`${error.message}\n`)
    return error
  }
  let origin = request
  try {
    origin = new URL(request.slice(request.indexOf(' ') + 1)).origin
  } catch {
    // Not a URL: warn about the request as it is.
  }
  if (!warned.has(origin)) {
    warned.add(origin)
    // On stderr itself: Jest's sandbox does not print process warnings of ES module tests.
    process.stderr.write(
      `dvd-rw: ${request} was made outside any test (module scope, a global setup, a timer left ` +
        'running), so no test DVD records it; it goes to the network. Under CI=true it fails.\n',
    )
  }
  return undefined
}
