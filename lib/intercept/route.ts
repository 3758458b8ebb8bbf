/**
 * Which DVD answers a `node:http` request: the one bound to the request's async context, so that
 * nested DVDs form a stack (innermost wins) and DVDs installed in two concurrent async contexts
 * (two tests running at once) never see each other's traffic. A request made in a context that
 * never had a DVD (work started before the install, a pool's background task) goes to the DVD
 * installed last, as fetch does through the global dispatcher.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { DVD } from '../dvd.js'

/** One installation of a DVD: it answers while `active`, then hands over to `parent`. */
export class Binding {
  active = true
  constructor(
    readonly dvd: DVD,
    readonly parent: Binding | undefined,
  ) {}
}

const context = new AsyncLocalStorage<Binding | null>()
// Tracking starts now rather than at the first install: enterWith on the continuation of a
// promise made while nothing tracked promises would bind the DVD to a context shared with
// unrelated work (the test runner's, for every test it starts).
context.run(null, () => {})
/** Every active binding, in installation order. */
const installed: Binding[] = []

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

/** Ends a binding: requests in its context go to the DVD it covered again. */
export function unbind(binding: Binding): void {
  binding.active = false
  const at = installed.indexOf(binding)
  if (at !== -1) installed.splice(at, 1)
}

/** How many bindings are active (the interception is needed while there is one). */
export function boundCount(): number {
  return installed.length
}

/** The DVD that answers a request made now, if any. */
export function activeDVD(): DVD | undefined {
  const bound = context.getStore()
  // A context that had DVDs and closed them all goes to the network, even while another
  // context's DVD is installed: a finished test must not record into a test still running.
  if (bound) {
    for (let binding: Binding | undefined = bound; binding; binding = binding.parent) {
      if (binding.active) return binding.dvd
    }
    return undefined
  }
  return installed.at(-1)?.dvd
}
