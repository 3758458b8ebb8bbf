/**
 * `node:http` and `node:https` clients (`http.request`, `http.get`, `ClientRequest`, and what is
 * built on them: axios's default adapter, got, node-fetch 2, superagent, the AWS SDK, Stripe…)
 * answered from the DVD bound to the request's async context, or sent to the network and
 * recorded into it. The only module that knows `@mswjs/interceptors`.
 *
 * Why 0.41.x: it is the last line that runs on Node 20. It wraps `http.request`, `http.get`,
 * `https.request`, `https.get` and the `ClientRequest` constructor, and gives every request a mock
 * socket whose HTTP parser hands us a Fetch `Request`; answering it writes a real HTTP/1.1 message
 * into that socket, so the client parses a replayed response exactly as it parses one from a
 * server. Passing through opens the real connection with the caller's own agent (its TLS options,
 * its `createConnection`), and we read the live response off the `ClientRequest` itself: the
 * status line and raw headers as received, the body as the client's parser hands it over
 * (compressed bodies stay compressed), and the client's own `'error'`.
 *
 * Its limits, and how they touch users:
 * - It patches the module objects (`http.request = …`), which named ESM imports
 *   (`import { request } from 'node:https'`) do not see by themselves: Node copies a built-in's
 *   properties to its ESM bindings only when asked, so we ask (`syncBuiltinESMExports`) after
 *   applying and after disposing. A copy the program took itself (`const get = http.get` before
 *   installing) still keeps the original.
 * - Each request gets a one-off agent wrapping the caller's: sockets of a keep-alive agent are
 *   not reused while interception is on (each request opens its own connection).
 * - Passthrough connects with the agent's `createConnection`, which proxy agents built on
 *   agent-base (`https-proxy-agent`…) refuse: such requests replay, but going to the network
 *   fails with `UnsupportedAgentError` (see `goLive`). An agent that is no `http.Agent` at all
 *   is replaced by a plain one on passthrough, so the request goes direct.
 * - While applied it records raw header names on the global `Headers`, `Request` and `Response`
 *   (wrapped in proxies), which fetch then goes through too.
 *
 * Moving to the socket-level interceptor (0.42+, Node 22+): it intercepts `net.Socket.connect`
 * and `tls.connect` instead of the http module objects, so named imports, keep-alive agents and
 * proxy agents are covered alike, and the request and response events keep the shapes used here
 * (`request`, `controller.respondWith/errorWith`, passthrough when left alone). This file is
 * then the only one to change: swap the interceptor class, and take the live response from the
 * interceptor's `response` event (with the raw socket's error) rather than from the
 * `ClientRequest`, which a socket-level interceptor does not see. The routing (`route.ts`) and
 * the DVD do not change.
 */
import { ClientRequest, type IncomingMessage, STATUS_CODES } from 'node:http'
import { syncBuiltinESMExports } from 'node:module'
import { FetchResponse, getRawRequest, type RequestController } from '@mswjs/interceptors'
import { ClientRequestInterceptor } from '@mswjs/interceptors/ClientRequest'
import { BodyArrival } from '../body_arrival.js'
import { withDecodedBody } from '../content_encoding.js'
import type { DVD } from '../dvd.js'
import { UnsupportedAgentError } from '../errors.js'
import {
  bodyChunks,
  type DVDRequest,
  type DVDResponse,
  type HeaderPair,
  isRecordedError,
  type Outcome,
  type RecordedError,
} from '../model.js'
import { captureError, isAbort, reviveError } from '../network_errors.js'
import { activeBinding, bind, boundCount, outsideTests, unbind } from './route.js'

/** Longest wait for the caller's own abort when replaying a recorded abort (milliseconds). */
const MAX_ABORT_WAIT = 30_000

/** Longest pause between a replayed partial body and its recorded failure (milliseconds). */
const MAX_PARTIAL_WAIT = 1_000

/**
 * Request headers that describe the connection rather than the request: the client sets them
 * from the URL and the body, fetch never hands them to a dispatcher, and leaving them out keeps
 * one model whichever client recorded.
 */
const CONNECTION_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'x-interceptors-internal-request-id',
])

let interceptor: ClientRequestInterceptor | undefined

/** Per DVD, recordings of requests their caller destroyed, finishing as their sockets close. */
const pending = new WeakMap<DVD, Set<Promise<void>>>()

function closing(dvd: DVD): Set<Promise<void>> {
  let set = pending.get(dvd)
  if (!set) {
    set = new Set()
    pending.set(dvd, set)
  }
  return set
}

/**
 * Resolves once the requests whose caller gave up are recorded (their sockets close right after),
 * at most `ms` later: the DVD is then complete for saving.
 */
export async function nodeHttpRecorded(dvd: DVD, ms = 5_000): Promise<void> {
  const set = pending.get(dvd)
  if (!set || set.size === 0) return
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))
  await Promise.race([Promise.all(set), bound])
  clearTimeout(timer)
  pending.delete(dvd)
}

/** How many holders keep the interception on besides DVD installations (test helpers). */
let holders = 0

function applyInterceptor(): void {
  if (interceptor) return
  interceptor = new ClientRequestInterceptor()
  interceptor.on('request', ({ request, controller }) => handle(request, controller))
  interceptor.apply()
  syncBuiltinESMExports()
}

function releaseInterceptor(): void {
  if (boundCount() > 0 || holders > 0 || !interceptor) return
  interceptor.dispose()
  interceptor = undefined
  syncBuiltinESMExports()
}

/**
 * Routes `node:http` requests made in the calling async context (and those made where no DVD was
 * ever installed) to `dvd` until the returned function is called; see `route.ts`.
 */
export function interceptNodeHttp(dvd: DVD): () => void {
  const binding = bind(dvd)
  applyInterceptor()
  return () => {
    if (!binding.active) return
    unbind(binding)
    releaseInterceptor()
  }
}

/**
 * Keeps `node:http` intercepted until the returned function is called, with no DVD of its own: the
 * test helpers hold it for the life of a test file, so that each test's binding (`route.ts`)
 * answers the requests of its test and requests outside the tests meet the helpers' policy.
 */
export function holdNodeHttp(): () => void {
  holders++
  applyInterceptor()
  let held = true
  return () => {
    if (!held) return
    held = false
    holders--
    releaseInterceptor()
  }
}

async function handle(request: Request, controller: RequestController): Promise<void> {
  const binding = activeBinding()
  const raw = getRawRequest(request)
  if (!(raw instanceof ClientRequest)) return
  emitErrorsOnce(raw)
  // Upgrades (WebSocket handshakes) and CONNECT tunnels are not HTTP exchanges to record.
  const tunnel = request.headers.has('upgrade') || request.method === 'CONNECT'
  if (tunnel) return goLive(request, raw, controller)
  if (!binding) {
    const refused = outsideTests(`${request.method} ${request.url}`)
    return refused ? controller.errorWith(refused) : goLive(request, raw, controller)
  }
  let dvd: DVD
  try {
    dvd = await binding.dvd()
  } catch (error) {
    // A test's DVD that cannot open (missing in mode none, damaged): the request fails with why.
    return controller.errorWith(error instanceof Error ? error : new Error(String(error)))
  }
  if (dvd.settings.mode === 'passthrough') return goLive(request, raw, controller)
  try {
    const incoming: DVDRequest = {
      method: request.method,
      url: request.url,
      headers: requestHeaders(request.headers),
      body: request.body ? Buffer.from(await request.arrayBuffer()) : null,
    }
    if (!incoming.body?.length) incoming.body = null
    // The dispatch parts let a binary DVD's reader key the request itself (see DVD.decide).
    const [origin, path] = splitUrl(request.url)
    const decision = dvd.decide(incoming, { method: request.method, origin, path })
    switch (decision.kind) {
      case 'live':
        return goLive(request, raw, controller)
      case 'fail':
        return controller.errorWith(decision.error)
      case 'record': {
        const cancel = recordLive(raw, dvd, (outcome) => dvd.record(decision.request, outcome))
        return goLive(request, raw, controller, cancel)
      }
      case 'replay':
        return await play(raw, controller, decision.outcome, request.method, dvd.settings.timing ?? 0)
    }
  } catch (error) {
    controller.errorWith(error instanceof Error ? error : new Error(String(error)))
  }
}

/**
 * Lets the request through to the network. The interception connects through the caller's
 * agent; a proxy agent (agent-base) refuses, by throwing where the caller cannot catch it: the
 * request fails with an {@link UnsupportedAgentError} instead, and nothing is recorded.
 */
async function goLive(
  request: Request,
  raw: ClientRequest,
  controller: RequestController,
  cancelRecording?: () => void,
): Promise<void> {
  try {
    await controller.passthrough()
  } catch (cause) {
    cancelRecording?.()
    const custom = (raw as unknown as { agent?: { customAgent?: object } }).agent?.customAgent
    const agent = custom?.constructor?.name ?? 'unknown agent'
    ClientRequest.prototype.destroy.call(
      raw,
      new UnsupportedAgentError(`${request.method} ${request.url}`, agent, cause),
    )
  }
}

/**
 * The interceptor's socket reports an error it is destroyed with twice (once itself, once through
 * `net.Socket`), and the request passes both on; clients that settle a promise per error (got
 * when it times out mid-body) then fail with an unhandled rejection. Each error object reaches
 * the request's listeners once, as without interception.
 */
function emitErrorsOnce(raw: ClientRequest): void {
  const seen = new WeakSet<object>()
  const emit = raw.emit
  raw.emit = function (this: ClientRequest, event: string | symbol, ...args: unknown[]): boolean {
    const error = args[0]
    if (event === 'error' && typeof error === 'object' && error !== null) {
      if (seen.has(error)) return true
      seen.add(error)
    }
    return emit.call(this, event, ...args)
  } as typeof raw.emit
}

/** A normalized absolute URL as `[origin, path]` (the parts a dispatcher is given). */
function splitUrl(url: string): [string, string] {
  const slash = url.indexOf('/', url.indexOf('//') + 2)
  return slash === -1 ? [url, '/'] : [url.slice(0, slash), url.slice(slash)]
}

function requestHeaders(headers: Headers): HeaderPair[] {
  const pairs: HeaderPair[] = []
  for (const [name, value] of headers) if (!CONNECTION_HEADERS.has(name)) pairs.push([name, value])
  return pairs
}

/**
 * A recorded response as a Fetch `Response` the interceptor writes into the client's socket. A
 * body recorded in several chunks goes out in those chunks, each at its recorded offset times
 * `timing` (0: no delays), until the client closes the request.
 */
function toResponse(
  recorded: DVDResponse,
  method: string,
  body?: ReadableStream<Uint8Array>,
  timing = 0,
  raw?: ClientRequest,
): Response {
  // Bodies stored decoded (Python dvd-rw's way) go out without their content-encoding.
  const response = recorded.bodyDecoded ? withDecodedBody(recorded) : recorded
  const hasBody =
    method !== 'HEAD' && FetchResponse.isResponseWithBody(response.status) && response.body !== null
  body ??= hasBody ? inChunks(response, timing, raw) : undefined
  return new FetchResponse(hasBody ? (body ?? response.body) : null, {
    status: response.status,
    statusText: response.statusText ?? STATUS_CODES[response.status] ?? '',
    headers: mergeRepeats(response.headers),
  })
}

/** The body as a stream of its recorded chunks, or `undefined` when it came in one piece. */
function inChunks(
  response: DVDResponse,
  timing: number,
  raw?: ClientRequest,
): ReadableStream<Uint8Array> | undefined {
  const chunks = bodyChunks(response)
  const bytes = response.body
  if (!chunks || !bytes) return undefined
  const start = performance.now()
  let piece = 0
  let at = 0
  return new ReadableStream<Uint8Array>({
    async pull(stream) {
      if (raw?.destroyed) return stream.close()
      const wait = timing > 0 ? start + chunks.offsetsMs[piece]! * timing - performance.now() : 0
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      const end = at + chunks.lengths[piece]!
      stream.enqueue(bytes.subarray(at, end))
      at = end
      if (++piece === chunks.lengths.length) stream.close()
    },
  })
}

/**
 * Repeated headers (`set-cookie`) as one name with a list of values: the interceptor writes the
 * headers with `setHeader`, which would keep only the last of several lines with the same name,
 * while a list becomes one line per value, as received.
 */
function mergeRepeats(headers: readonly HeaderPair[]): [string, string][] {
  const seen = new Map<string, [string, string | string[]]>()
  for (const [name, value] of headers) {
    const key = name.toLowerCase()
    const entry = seen.get(key)
    if (!entry) seen.set(key, [name, value])
    else entry[1] = Array.isArray(entry[1]) ? [...entry[1], value] : [entry[1], value]
  }
  return [...seen.values()] as [string, string][]
}

/** Resolves `true` once the client has closed the request, or `false` after `ms`. */
function closedWithin(raw: ClientRequest, ms: number): Promise<boolean> {
  if (raw.destroyed) return Promise.resolve(true)
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer)
      resolve(true)
    }
    const timer = setTimeout(() => {
      raw.off('close', onClose)
      resolve(false)
    }, ms)
    raw.once('close', onClose)
  })
}

/** Answers with a recording: a response, or a recorded failure as the request's `'error'`. */
async function play(
  raw: ClientRequest,
  controller: RequestController,
  outcome: Outcome,
  method: string,
  timing: number,
): Promise<void> {
  if (!isRecordedError(outcome))
    return controller.respondWith(toResponse(outcome, method, undefined, timing, raw))
  if (outcome.partial) return playPartial(raw, controller, outcome, outcome.partial, method)
  if (isAbort(outcome)) {
    // The answer never came before the caller gave up: let the caller's own timeout or signal
    // fire as it did live (its timers start once connected), within bounds.
    const socket = raw.socket as (typeof raw.socket & { connecting: boolean }) | null
    if (socket?.connecting) {
      socket.connecting = false
      socket.emit('connect')
    }
    const waited = Math.min(MAX_ABORT_WAIT, (outcome.elapsedMs ?? 0) * 2 + 1000)
    if (await closedWithin(raw, waited)) return
  }
  controller.errorWith(reviveError(outcome))
}

/**
 * A response that failed part-way: its headers and received bytes, then the connection drops,
 * which the client reports as it did live (an `aborted` response, `ECONNRESET`). When the caller
 * gave up live (a timeout while the body trickled in), the drop waits for it to give up again.
 */
function playPartial(
  raw: ClientRequest,
  controller: RequestController,
  failure: RecordedError,
  partial: DVDResponse,
  method: string,
): void {
  const bytes = partial.body
  const elapsed = failure.elapsedMs ?? 0
  const body = new ReadableStream<Uint8Array>({
    start(stream) {
      if (bytes?.length) stream.enqueue(bytes)
      const ended = isAbort(failure)
        ? closedWithin(raw, Math.min(MAX_ABORT_WAIT, elapsed * 2 + 1000))
        : new Promise((resolve) => setTimeout(resolve, Math.min(elapsed, MAX_PARTIAL_WAIT)))
      void ended.then(() => stream.error(reviveError(failure)))
    },
  })
  controller.respondWith(toResponse({ ...partial, body: bytes ?? new Uint8Array(0) }, method, body))
}

/** The error a client gave up with, recorded as an abort (replay waits for the caller again). */
function gaveUpError(): DOMException {
  return new DOMException('The operation was aborted.', 'AbortError')
}

/** The error Node reports for a response cut off mid-body. */
function abortedResponse(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
}

/**
 * Watches a request that goes to the network and hands its outcome over once: the response when
 * its body has arrived, or the error that ended it (with what had arrived, if anything). Nothing
 * here changes what the client sees: the body is tapped as the client's parser pushes it, and an
 * `'error'` nobody else listens to is still thrown.
 */
function recordLive(raw: ClientRequest, dvd: DVD, onOutcome: (outcome: Outcome) => void): () => void {
  const started = performance.now()
  let response: DVDResponse | undefined
  const arrival = new BodyArrival()
  let done = false
  let gaveUp = false
  let settle: (() => void) | undefined
  const finish = (outcome: Outcome): void => {
    if (done) return
    done = true
    onOutcome(outcome)
    settle?.()
  }
  const withBody = (head: DVDResponse): DVDResponse => ({ ...head, ...arrival.body() })
  const fail = (error: unknown): void => {
    if (done) return
    const recorded = captureError(gaveUp ? gaveUpError() : error, Math.round(performance.now() - started))
    if (response) recorded.partial = withBody(response)
    finish(recorded)
  }
  // The caller destroying its request (a timeout, an abort signal, `req.destroy()`) is not a
  // network failure: Node then reports a made-up `socket hang up`. The caller may be done (and
  // close the DVD) before the socket has closed: closing waits for what is still to record.
  const destroy = raw.destroy
  raw.destroy = function (this: ClientRequest, error?: Error) {
    if (!done && !gaveUp) {
      gaveUp = true
      closing(dvd).add(new Promise<void>((resolve) => (settle = resolve)))
    }
    return destroy.call(this, error)
  }
  raw.prependListener('response', (res: IncomingMessage) => {
    const status = res.statusCode ?? 0
    const head: DVDResponse = { status, headers: headerPairs(res.rawHeaders), body: null }
    if (res.statusMessage && res.statusMessage !== STATUS_CODES[status]) head.statusText = res.statusMessage
    response = head
    arrival.started()
    const push = res.push
    res.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
      if (chunk === null) finish(withBody(head))
      else if (!done) arrival.add(chunk as Buffer)
      return push.call(this, chunk, encoding)
    }
    res.once('close', () => fail(abortedResponse()))
  })
  const onError = (error: Error): void => {
    // Without this listener the first error would have been thrown: keep it so.
    const unhandled = !done && raw.listenerCount('error') === 1
    fail(error)
    if (unhandled) throw error
  }
  // First in line: a client that destroys its request on error must not look like one giving up.
  raw.prependListener('error', onError)
  raw.once('close', () => {
    raw.off('error', onError)
    fail(response ? abortedResponse() : gaveUpError())
  })
  return () => {
    done = true
    settle?.()
  }
}

/** `rawHeaders` (`[name, value, …]`, as received) → pairs. */
function headerPairs(raw: readonly string[]): HeaderPair[] {
  const pairs: HeaderPair[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!])
  return pairs
}
