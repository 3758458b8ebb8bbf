/**
 * The two shapes of undici dispatch handlers. Node 20's built-in fetch (undici 6) and `undici.fetch`
 * / `undici.request` hand a dispatcher "legacy" handlers (`onConnect`, `onHeaders`, `onData`…);
 * undici 7 interceptors hand it the newer controller API (`onRequestStart`, `onResponseStart`…).
 * Everything inside dvd-rw speaks the legacy shape, which every undici version accepts upstream.
 */

/** Aborts the request; what `onConnect` receives. */
export type AbortFn = (reason?: unknown) => void

/** The dispatch handler shape every undici version understands. */
export interface LegacyHandler {
  onConnect?(abort: AbortFn, context?: unknown): void
  onResponseStarted?(): void
  onHeaders?(
    status: number,
    rawHeaders: Buffer[],
    resume: () => void,
    statusText: string,
  ): boolean | undefined
  onData?(chunk: Buffer): boolean | undefined
  onComplete?(trailers: Buffer[] | null): void
  onError?(error: Error): void
  onUpgrade?(status: number, rawHeaders: Buffer[], socket: unknown): void
}

interface ControllerHandler {
  onRequestStart?(controller: Controller, context: unknown): void
  onRequestUpgrade?(controller: Controller, status: number, headers: HeaderObject, socket: unknown): void
  onResponseStart?(controller: Controller, status: number, headers: HeaderObject, statusText: string): void
  onResponseData?(controller: Controller, chunk: Buffer): void
  onResponseEnd?(controller: Controller, trailers: HeaderObject): void
  onResponseError?(controller: Controller, error: Error): void
}

type HeaderObject = Record<string, string | string[]>

/** Raw `[name, value, name, value…]` buffers as a header object (lower-case names, repeats as arrays). */
export function rawHeadersToObject(raw: readonly Buffer[] | null | undefined): HeaderObject {
  const result: HeaderObject = {}
  if (!raw) return result
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase()
    const value = raw[i + 1]!.toString('latin1')
    const existing = result[name]
    if (existing === undefined) result[name] = value
    else if (Array.isArray(existing)) existing.push(value)
    else result[name] = [existing, value]
  }
  return result
}

class Controller {
  readonly #abort: AbortFn
  #paused = false
  #aborted = false
  #reason: unknown = null
  resumeUpstream: (() => void) | null = null

  constructor(abort: AbortFn) {
    this.#abort = abort
  }
  pause(): void {
    this.#paused = true
  }
  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.resumeUpstream?.()
  }
  abort(reason?: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.#abort(reason)
  }
  get paused(): boolean {
    return this.#paused
  }
  get aborted(): boolean {
    return this.#aborted
  }
  get reason(): unknown {
    return this.#reason
  }
}

/** Presents a controller-API handler through the legacy shape. */
class ControllerAdapter implements LegacyHandler {
  readonly #handler: ControllerHandler
  #controller = new Controller(() => {})

  constructor(handler: ControllerHandler) {
    this.#handler = handler
  }
  onConnect(abort: AbortFn, context?: unknown): void {
    this.#controller = new Controller(abort)
    this.#handler.onRequestStart?.(this.#controller, context)
  }
  onUpgrade(status: number, rawHeaders: Buffer[], socket: unknown): void {
    this.#handler.onRequestUpgrade?.(this.#controller, status, rawHeadersToObject(rawHeaders), socket)
  }
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    this.#controller.resumeUpstream = resume
    this.#handler.onResponseStart?.(this.#controller, status, rawHeadersToObject(rawHeaders), statusText)
    return !this.#controller.paused
  }
  onData(chunk: Buffer): boolean {
    this.#handler.onResponseData?.(this.#controller, chunk)
    return !this.#controller.paused
  }
  onComplete(trailers: Buffer[] | null): void {
    this.#handler.onResponseEnd?.(this.#controller, rawHeadersToObject(trailers))
  }
  onError(error: Error): void {
    if (!this.#handler.onResponseError) throw error
    this.#handler.onResponseError(this.#controller, error)
  }
}

/** The handler in the legacy shape, whichever shape it came in. */
export function toLegacyHandler(handler: object): LegacyHandler {
  return typeof (handler as ControllerHandler).onRequestStart === 'function'
    ? new ControllerAdapter(handler as ControllerHandler)
    : (handler as LegacyHandler)
}
