/**
 * Global installation: DVDs installed as undici's global dispatcher form a stack (innermost wins);
 * uninstalling one restores what was below it, even when DVDs are closed out of order.
 */
import { type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici'
import { ContextDispatcher } from './intercept/context_dispatcher.js'
import { DVDDispatcher } from './intercept.js'

interface Installed {
  dispatcher: Dispatcher
  previous: Dispatcher
}

const stack: Installed[] = []

/** The key under which Node's own fetch (and undici's package) find the global dispatcher. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1')

/**
 * The global object of the realm Node's `fetch` comes from, when it is not ours: inside a vm
 * sandbox (Jest's test environment) the global `fetch` is the outer realm's, which reads its
 * dispatcher from its own global object, not from the sandbox's.
 */
function fetchRealm(): Record<symbol, unknown> | undefined {
  const fetch = globalThis.fetch as unknown as { constructor?: FunctionConstructor } | undefined
  try {
    const realm = fetch?.constructor?.('return globalThis')() as Record<symbol, unknown> | undefined
    return realm && realm !== (globalThis as object) ? realm : undefined
  } catch {
    return undefined
  }
}

/** Sets the global dispatcher here and, in a sandbox, in the realm Node's fetch comes from. */
function setDispatcher(dispatcher: Dispatcher): void {
  setGlobalDispatcher(dispatcher)
  const realm = fetchRealm()
  if (realm) {
    Object.defineProperty(realm, GLOBAL_DISPATCHER, {
      value: dispatcher,
      writable: true,
      enumerable: false,
      configurable: false,
    })
  }
}

/** Makes `dispatcher` the global dispatcher (for `fetch` and `undici`) until it is uninstalled. */
export function installGlobal(dispatcher: Dispatcher): void {
  if (stack.some((entry) => entry.dispatcher === dispatcher)) return
  stack.push({ dispatcher, previous: getGlobalDispatcher() })
  setDispatcher(dispatcher)
}

/** Removes `dispatcher` from the stack and restores the global dispatcher it covered. */
export function uninstallGlobal(dispatcher: Dispatcher): void {
  const at = stack.findIndex((entry) => entry.dispatcher === dispatcher)
  if (at === -1) return
  const entry = stack[at]!
  const above = stack[at + 1]
  if (above) above.previous = entry.previous
  else setDispatcher(entry.previous)
  stack.splice(at, 1)
}

/** The dispatcher that reaches the network: the global one, looking through installed DVDs. */
export function networkDispatcher(): Dispatcher {
  const current = getGlobalDispatcher()
  if (current instanceof DVDDispatcher) return current.upstream
  return current instanceof ContextDispatcher ? current.network : current
}
