/**
 * Global installation: DVDs installed as undici's global dispatcher form a stack (innermost wins);
 * uninstalling one restores what was below it, even when DVDs are closed out of order.
 */
import { type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici'
import { DVDDispatcher } from './intercept.js'

interface Installed {
  dispatcher: Dispatcher
  previous: Dispatcher
}

const stack: Installed[] = []

/** Makes `dispatcher` the global dispatcher (for `fetch` and `undici`) until it is uninstalled. */
export function installGlobal(dispatcher: Dispatcher): void {
  if (stack.some((entry) => entry.dispatcher === dispatcher)) return
  stack.push({ dispatcher, previous: getGlobalDispatcher() })
  setGlobalDispatcher(dispatcher)
}

/** Removes `dispatcher` from the stack and restores the global dispatcher it covered. */
export function uninstallGlobal(dispatcher: Dispatcher): void {
  const at = stack.findIndex((entry) => entry.dispatcher === dispatcher)
  if (at === -1) return
  const entry = stack[at]!
  const above = stack[at + 1]
  if (above) above.previous = entry.previous
  else setGlobalDispatcher(entry.previous)
  stack.splice(at, 1)
}

/** The dispatcher that reaches the network: the global one, looking through installed DVDs. */
export function networkDispatcher(): Dispatcher {
  const current = getGlobalDispatcher()
  return current instanceof DVDDispatcher ? current.upstream : current
}
