/**
 * The interceptor: an undici Dispatcher that answers from a DVD, or sends the request on to the
 * real network and records what came back. Working at the dispatcher level covers Node's global
 * `fetch`, `undici.fetch` and `undici.request` alike, and records bytes exactly as they come off
 * the wire (before fetch decompresses them).
 */
import { STATUS_CODES } from 'node:http'
import { Dispatcher } from 'undici'
import { BodyArrival } from './body_arrival.js'
import { withDecodedBody } from './content_encoding.js'
import type { DispatchParts, DVD } from './dvd.js'
import { type AbortFn, type LegacyHandler, toLegacyHandler } from './handlers.js'
import {
  type BodyChunks,
  bodyChunks,
  type DVDRequest,
  type DVDResponse,
  isRecordedError,
  type Outcome,
  type RecordedError,
} from './model.js'
import { captureError, isAbort, reviveError } from './network_errors.js'
import {
  fromRawHeaders,
  isBodyInMemory,
  readRequestBody,
  toDVDRequest,
  toFlatHeaders,
  toRawHeaders,
} from './outgoing.js'

/** Replayed bodies are handed over in slices of this size, honouring back-pressure between them. */
const REPLAY_CHUNK = 64 * 1024

/** Longest wait for the caller's own abort when replaying a recorded abort (milliseconds). */
const MAX_ABORT_WAIT = 30_000

/** Longest pause between a replayed partial body and its recorded failure (milliseconds). */
const MAX_PARTIAL_WAIT = 1_000

/** Watches for the caller aborting a replayed request. */
class AbortWatch {
  aborted = false
  reason: unknown = undefined
  /** Called once when the caller aborts. */
  listener: (() => void) | null = null
  readonly abort: AbortFn = (reason) => {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    this.listener?.()
  }

  /** Resolves `true` when the caller aborts, or `false` after `ms`. */
  wait(ms: number): Promise<boolean> {
    if (this.aborted) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      this.listener = () => {
        clearTimeout(timer)
        resolve(true)
      }
    })
  }
}

/** Resolves in the next turn of the event loop, after pending I/O callbacks and timers. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function abortError(reason: unknown): Error {
  return reason instanceof Error ? reason : new DOMException('The operation was aborted.', 'AbortError')
}

/**
 * Sends a response's body in pieces, honouring back-pressure: synchronous while the consumer keeps
 * accepting data, asynchronous only once it says "stop" (`false`) and until it calls `resume`, or
 * while a timed replay waits for a chunk's recorded offset. A body recorded in chunks goes out in
 * those chunks; any other in slices of {@link REPLAY_CHUNK}.
 */
class BodySender {
  #resumes = 0
  #wake: (() => void) | null = null
  /** The body still to send; let go once sent (see {@link send}). */
  #body: Uint8Array | null
  /** The recorded chunks of the body, if it has any. */
  readonly #chunks: BodyChunks | undefined
  /** `performance.now()` when the headers were handed over: chunk offsets count from there. */
  readonly #start: number
  /** Where the next piece starts in the body, and which recorded chunk it is. */
  #offset = 0
  #piece = 0
  /** Whether the next recorded chunk's time has come. */
  #due = false
  /** What `onHeaders` receives as `resume`. */
  readonly resume = (): void => {
    this.#resumes++
    this.#wake?.()
  }

  constructor(
    readonly handler: LegacyHandler,
    readonly watch: AbortWatch,
    response: DVDResponse,
    body: Uint8Array | null,
    /** Factor applied to the recorded offsets; 0 sends every chunk at once. */
    readonly timing: number,
  ) {
    this.#body = body
    this.#chunks = body ? bodyChunks(response) : undefined
    this.#start = this.#chunks && timing > 0 ? performance.now() : 0
  }

  /**
   * Sends the rest of the body. `flowing` is what the consumer last answered, `seen` the number of
   * resumes before it answered. `true` once everything is sent, `false` when the caller aborted
   * (its `onError` has been called).
   */
  send(flowing: boolean | undefined, seen: number): boolean | Promise<boolean> {
    const { handler, watch } = this
    const body = this.#body
    const chunks = this.#chunks
    while (body && this.#offset < body.length) {
      if (watch.aborted) return this.#aborted()
      if (chunks && !this.#due) {
        this.#due = true
        const wait =
          this.timing > 0 ? this.#start + chunks.offsetsMs[this.#piece]! * this.timing - performance.now() : 0
        if (wait >= 1) {
          return watch
            .wait(Math.round(wait))
            .then((aborted) => (aborted ? this.#aborted() : this.send(flowing, seen)))
        }
        // Live, each chunk came in a turn of the event loop of its own; chunks handed over in one
        // turn would reach the consumer merged (fetch reads its body stream whole each time).
        if (this.#piece > 0) return nextTurn().then(() => this.send(flowing, seen))
      }
      if (flowing === false && this.#resumes === seen) {
        return this.#waitForResume().then(() => this.send(true, seen))
      }
      seen = this.#resumes
      const at = this.#offset
      const end = Math.min(body.length, at + (chunks ? chunks.lengths[this.#piece]! : REPLAY_CHUNK))
      this.#offset = end
      this.#piece++
      this.#due = false
      flowing = handler.onData?.(Buffer.from(body.buffer, body.byteOffset + at, end - at))
    }
    // fetch keeps `resume`, and with it this sender, until well after the response is gone (its
    // body stream is held by a FinalizationRegistry until the Response is collected): holding
    // the body too made every replayed body outlive a scavenge and wait for a full collection.
    this.#body = null
    return watch.aborted ? this.#aborted() : true
  }

  #aborted(): false {
    this.#body = null
    this.handler.onError?.(abortError(this.watch.reason))
    return false
  }

  #waitForResume(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = this.watch.listener = () => {
        this.#wake = this.watch.listener = null
        resolve()
      }
    })
  }
}

/** Sends status, headers and body of a recorded response (see {@link BodySender.send}). */
function sendResponse(
  handler: LegacyHandler,
  watch: AbortWatch,
  recorded: DVDResponse,
  method: string,
  timing: number,
): boolean | Promise<boolean> {
  // Bodies stored decoded (Python dvd-rw's way) go out without their content-encoding.
  const response = recorded.bodyDecoded ? withDecodedBody(recorded) : recorded
  const sender = new BodySender(handler, watch, response, method === 'HEAD' ? null : response.body, timing)
  handler.onResponseStarted?.()
  const flowing = handler.onHeaders?.(
    response.status,
    toRawHeaders(response.headers),
    sender.resume,
    response.statusText ?? STATUS_CODES[response.status] ?? '',
  )
  return sender.send(flowing, 0)
}

/**
 * Hands a recorded response (or a recorded failure) to the handler, as a live request would. A
 * response is played synchronously, as undici's MockAgent does, unless the consumer applies
 * back-pressure or the replay is timed; then, and for failures, the returned promise settles when
 * playing is over. `timing` is the factor applied to recorded chunk offsets (0: no delays).
 */
function play(
  handler: LegacyHandler,
  outcome: Outcome,
  method: string,
  timing: number,
): Promise<void> | undefined {
  const watch = new AbortWatch()
  handler.onConnect?.(watch.abort)
  if (watch.aborted) {
    handler.onError?.(abortError(watch.reason))
    return undefined
  }
  if (isRecordedError(outcome)) return playFailure(handler, watch, outcome, method, timing)
  const sent = sendResponse(handler, watch, outcome, method, timing)
  if (sent === true) handler.onComplete?.([])
  else if (sent !== false) return sent.then((done) => void (done && handler.onComplete?.([])))
  return undefined
}

/** Plays a recorded failure: its partial response if any, then the error. */
async function playFailure(
  handler: LegacyHandler,
  watch: AbortWatch,
  failure: RecordedError,
  method: string,
  timing: number,
): Promise<void> {
  const response = failure.partial
  if (!response) {
    if (isAbort(failure)) {
      // A recorded abort means the answer never came before the caller gave up: wait for the
      // caller's own signal so fetch rejects exactly as it did live, but never longer than a
      // bounded time.
      const waited = Math.min(MAX_ABORT_WAIT, (failure.elapsedMs ?? 0) * 2 + 1000)
      if (await watch.wait(waited)) return handler.onError?.(abortError(watch.reason))
    }
    return handler.onError?.(reviveError(failure))
  }
  const started = performance.now()
  if (!(await sendResponse(handler, watch, response, method, timing))) return
  // Live, the failure came a while after the partial body; failing at once would let the
  // consumer's stream discard the bytes it had not read yet. Wait as long as live, within bounds;
  // a timed replay fails when it did live (counted from the headers, whose own wait it skipped).
  const elapsed = failure.elapsedMs ?? 0
  const wait =
    timing > 0 ? elapsed * timing - (performance.now() - started) : Math.min(elapsed, MAX_PARTIAL_WAIT)
  if (await watch.wait(Math.max(0, Math.round(wait)))) {
    return handler.onError?.(abortError(watch.reason))
  }
  handler.onError?.(reviveError(failure))
}

/** Tells the handler that handling its request failed, unless it has already finished. */
function failHandler(handler: LegacyHandler, error: unknown): void {
  try {
    handler.onError?.(error instanceof Error ? error : new Error(String(error)))
  } catch {
    // The handler already finished; nothing is left to tell.
  }
}

/** Passes everything through to the caller's handler while keeping a copy of the outcome. */
class RecordingHandler implements LegacyHandler {
  readonly #inner: LegacyHandler
  readonly #onOutcome: (outcome: Outcome) => void
  readonly #started = performance.now()
  #response: DVDResponse | undefined
  /** The body as it arrived (one read can bring several HTTP chunks: fetch passes them on merged). */
  readonly #arrival = new BodyArrival()
  #done = false

  constructor(inner: LegacyHandler, onOutcome: (outcome: Outcome) => void) {
    this.#inner = inner
    this.#onOutcome = onOutcome
  }
  onConnect(abort: AbortFn, context?: unknown): void {
    this.#inner.onConnect?.(abort, context)
  }
  onResponseStarted(): void {
    this.#inner.onResponseStarted?.()
  }
  onUpgrade(status: number, rawHeaders: Buffer[], socket: unknown): void {
    this.#inner.onUpgrade?.(status, rawHeaders, socket)
  }
  onHeaders(
    status: number,
    rawHeaders: Buffer[],
    resume: () => void,
    statusText: string,
  ): boolean | undefined {
    if (status >= 200) {
      this.#arrival.started()
      this.#response = { status, headers: fromRawHeaders(rawHeaders), body: null }
      if (statusText && statusText !== STATUS_CODES[status]) this.#response.statusText = statusText
    }
    return this.#inner.onHeaders?.(status, rawHeaders, resume, statusText)
  }
  onData(chunk: Buffer): boolean | undefined {
    // The caller gets the chunk first: recording must not delay it.
    const flowing = this.#inner.onData?.(chunk)
    this.#arrival.add(chunk)
    return flowing
  }
  onComplete(trailers: Buffer[] | null): void {
    if (this.#response) this.#finish(this.#withBody(this.#response))
    this.#inner.onComplete?.(trailers)
  }
  onError(error: Error): void {
    const recorded: RecordedError = captureError(error, Math.round(performance.now() - this.#started))
    if (this.#response) recorded.partial = this.#withBody(this.#response)
    this.#finish(recorded)
    this.#inner.onError?.(error)
  }
  #withBody(response: DVDResponse): DVDResponse {
    return { ...response, ...this.#arrival.body() }
  }
  #finish(outcome: Outcome): void {
    if (this.#done) return
    this.#done = true
    this.#onOutcome(outcome)
  }
}

/**
 * A dispatcher that owns no connections: requests it forwards go through dispatchers that belong
 * to someone else, so closing or destroying it has nothing to release.
 */
export abstract class DetachedDispatcher extends Dispatcher {
  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    if (callback) return void queueMicrotask(callback)
    return Promise.resolve()
  }

  override destroy(): Promise<void>
  override destroy(err: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(err: Error | null, callback: () => void): void
  override destroy(a?: unknown, b?: unknown): Promise<void> | void {
    const callback = typeof a === 'function' ? a : typeof b === 'function' ? b : undefined
    if (callback) return void queueMicrotask(callback as () => void)
    return Promise.resolve()
  }
}

/** Dispatch options as this dispatcher reads them. */
type DispatchOptions = Dispatcher.DispatchOptions

/** Dispatch options as `toDVDRequest` reads them. */
type DispatchLike = Parameters<typeof toDVDRequest>[0]

/**
 * An undici Dispatcher bound to one DVD. Use it per request (`fetch(url, { dispatcher })`) or
 * globally (`dvd.install()`); it replays, records or passes through according to the DVD's mode.
 */
export class DVDDispatcher extends DetachedDispatcher {
  readonly #dvd: DVD
  readonly #upstream: Dispatcher

  constructor(dvd: DVD, upstream: Dispatcher) {
    super()
    this.#dvd = dvd
    this.#upstream = upstream
  }

  /**
   * Tells fetch to hand over a request body as its source (the string or bytes it was given)
   * rather than wrapped in a stream: fetch checks this flag for undici's MockAgent, and it saves
   * reading every body back out of a stream.
   */
  get isMockActive(): boolean {
    return true
  }

  /** The dispatcher that reaches the real network. */
  get upstream(): Dispatcher {
    return this.#upstream
  }

  /** Factor applied to recorded chunk offsets on replay (the DVD's `timing`; 0: no delays). */
  get #timing(): number {
    return this.#dvd.settings.timing ?? 0
  }

  override dispatch(opts: DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const legacy = toLegacyHandler(handler)
    if (this.#dvd.settings.mode === 'passthrough' || opts.upgrade || opts.method === 'CONNECT') {
      return this.#upstream.dispatch(opts, legacy as Dispatcher.DispatchHandler)
    }
    // Bodies already in memory are handled at once: replay then costs no promise and no turn of
    // the event loop, as with undici's MockAgent. Streams, Blobs and FormData are read first.
    let playing: Promise<void> | undefined
    try {
      if (!isBodyInMemory(opts.body)) {
        readRequestBody(opts.body, opts.headers)
          .then((read) => this.#handle(opts, legacy, toDVDRequest(opts as DispatchLike, read)))
          .catch((error: unknown) => failHandler(legacy, error))
        return true
      }
      playing = this.#handle(opts, legacy, toDVDRequest(opts as DispatchLike))
    } catch (error) {
      failHandler(legacy, error)
    }
    playing?.catch((error: unknown) => failHandler(legacy, error))
    return true
  }

  #handle(opts: DispatchOptions, handler: LegacyHandler, request: DVDRequest): Promise<void> | undefined {
    // The dispatch parts let the DVD's store key the request without a key computed here.
    const parts = typeof opts.origin === 'string' && opts.method ? (opts as DispatchParts) : undefined
    const decision = this.#dvd.decide(request, parts)
    const forward = () => ({ ...opts, body: request.body, headers: toFlatHeaders(request.headers) })
    switch (decision.kind) {
      case 'replay':
        return play(handler, decision.outcome, request.method, this.#timing)
      case 'fail':
        handler.onConnect?.(() => {})
        handler.onError?.(decision.error)
        return undefined
      case 'live':
        this.#upstream.dispatch(forward(), handler as Dispatcher.DispatchHandler)
        return undefined
      case 'record': {
        const recorder = new RecordingHandler(handler, (outcome) =>
          this.#dvd.record(decision.request, outcome),
        )
        this.#upstream.dispatch(forward(), recorder as Dispatcher.DispatchHandler)
        return undefined
      }
    }
  }
}
