/**
 * The global dispatcher while a test-runner helper is in use: each `fetch` or undici request goes
 * to the dispatcher of the test DVD bound to its async context (`route.ts`), so the code under test
 * is recorded and replayed without being handed anything, and concurrent tests stay apart. A
 * request outside every test meets the helpers' policy: refused under `CI=true`, otherwise sent on
 * to the network with a one-line warning.
 */
import type { Dispatcher } from 'undici'
import { toLegacyHandler } from '../handlers.js'
import { DetachedDispatcher } from '../intercept.js'
import { activeBinding, outsideTests } from './route.js'

export class ContextDispatcher extends DetachedDispatcher {
  /** `network`: the dispatcher that was global before, which reaches the network. */
  constructor(readonly network: Dispatcher) {
    super()
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const binding = activeBinding()
    if (binding?.dispatcher) return binding.dispatcher.dispatch(opts, handler)
    if (!binding) {
      const refused = outsideTests(`${opts.method} ${String(opts.origin ?? '')}${opts.path}`)
      if (refused) {
        toLegacyHandler(handler).onError?.(refused)
        return true
      }
    }
    return this.network.dispatch(opts, handler)
  }
}
