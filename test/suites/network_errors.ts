import { join } from 'node:path'
import type { TestFn } from 'ava'
import { Agent, type Dispatcher, request } from 'undici'
import { DVDLoader, type DVDOptions } from '../../lib/index.js'
import { closedPort, startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/tmp.js'
import { unresponsivePort } from '../helpers/unresponsive.js'

/** The file suffix of each DVD format. */
export type Format = 'json' | 'binary' | 'har'

/**
 * Registers the suite for DVDs stored in `format`; every test file that calls it runs the same
 * specification against another storage (JSON, HAR, binary with the addon, binary with the TS reader).
 */
export function networkErrorSuite(test: TestFn, format: Format): void {
  const ext = { json: 'dvd.json', binary: 'dvd.lz4', har: 'har' }[format]

  interface Failure {
    name: string
    message: string
    causeClass: string | undefined
    causeName: string | undefined
    causeCode: unknown
    causeMessage: string | undefined
  }

  function describeFailure(error: unknown): Failure {
    const e = error as Error & { cause?: Error & { code?: unknown } }
    return {
      name: e.name,
      message: e.message,
      causeClass: e.cause?.constructor.name,
      causeName: e.cause?.name,
      causeCode: e.cause?.code,
      causeMessage: e.cause?.message,
    }
  }

  async function failureOf(promise: Promise<unknown>): Promise<Failure> {
    try {
      await promise
    } catch (error) {
      return describeFailure(error)
    }
    throw new Error('expected the request to fail')
  }

  /** Runs `call` live while recording, then again from the DVD, and returns both failures. */
  async function recordAndReplayFailure(
    call: (dispatcher: Dispatcher) => Promise<unknown>,
    options: DVDOptions = {},
  ): Promise<{ live: Failure; replayed: Failure }> {
    const file = join(tempDir(), `errors.${ext}`)
    const rec = await DVDLoader.open(file, { ...options, recordMode: 'once' })
    const live = await failureOf(call(rec.dispatcher))
    await rec.close()
    const play = await DVDLoader.open(file, { recordMode: 'none' })
    const replayed = await failureOf(call(play.dispatcher))
    await play.close()
    return { live, replayed }
  }

  const fetchVia =
    (url: string, init: RequestInit = {}) =>
    (dispatcher: Dispatcher) =>
      fetch(url, { ...init, dispatcher } as unknown as RequestInit).then((r) => r.arrayBuffer())

  test('a refused connection replays as fetch failed caused by ECONNREFUSED', async (t) => {
    const port = await closedPort()
    const { live, replayed } = await recordAndReplayFailure(fetchVia(`http://127.0.0.1:${port}/x`))
    t.is(live.causeCode, 'ECONNREFUSED')
    t.is(live.message, 'fetch failed')
    t.deepEqual(replayed, live)
  })

  test('a DNS failure replays with the same getaddrinfo error', async (t) => {
    const { live, replayed } = await recordAndReplayFailure(fetchVia('http://no-such-host.invalid/'))
    t.true(['ENOTFOUND', 'EAI_AGAIN'].includes(String(live.causeCode)))
    t.deepEqual(replayed, live)
  })

  test('a connect timeout replays as ConnectTimeoutError', async (t) => {
    const listener = await unresponsivePort()
    const upstream = new Agent({ connect: { timeout: 300 } })
    try {
      const { live, replayed } = await recordAndReplayFailure(
        fetchVia(`http://127.0.0.1:${listener.port}/`),
        {
          upstream,
        },
      )
      t.is(live.causeClass, 'ConnectTimeoutError')
      t.is(live.causeCode, 'UND_ERR_CONNECT_TIMEOUT')
      t.deepEqual(replayed, live)
    } finally {
      listener.close()
      await upstream.destroy()
    }
  })

  test('a headers timeout replays as HeadersTimeoutError', async (t) => {
    const server = await startServer()
    const upstream = new Agent({ headersTimeout: 100 })
    try {
      const { live, replayed } = await recordAndReplayFailure(fetchVia(`${server.origin}/slow?ms=2000`), {
        upstream,
      })
      t.is(live.causeClass, 'HeadersTimeoutError')
      t.is(live.causeCode, 'UND_ERR_HEADERS_TIMEOUT')
      t.deepEqual(replayed, live)
    } finally {
      await upstream.destroy()
      await server.close()
    }
  })

  test('a body timeout replays the headers and partial body, then the same BodyTimeoutError', async (t) => {
    const server = await startServer()
    const upstream = new Agent({ bodyTimeout: 150 })
    const file = join(tempDir(), `body-timeout.${ext}`)
    const read = async (dispatcher: Dispatcher) => {
      const res = await fetch(`${server.origin}/slow-body`, { dispatcher } as unknown as RequestInit)
      const reader = res.body!.getReader()
      const first = await reader.read()
      const failure = await failureOf(reader.read())
      return { status: res.status, first: Buffer.from(first.value ?? []).toString(), failure }
    }
    try {
      const rec = await DVDLoader.open(file, { recordMode: 'once', upstream })
      const live = await read(rec.dispatcher)
      await rec.close()
      await server.close()
      const play = await DVDLoader.open(file, { recordMode: 'none' })
      const replayed = await read(play.dispatcher)
      t.is(live.status, 200)
      t.is(live.first, 'partial ')
      t.is(live.failure.causeCode ?? live.failure.name, replayed.failure.causeCode ?? replayed.failure.name)
      t.deepEqual(replayed, live)
    } finally {
      await upstream.destroy()
    }
  })

  test('a server hanging up replays as SocketError "other side closed"', async (t) => {
    const server = await startServer()
    try {
      const { live, replayed } = await recordAndReplayFailure(fetchVia(`${server.origin}/hang-up`))
      t.is(live.causeClass, 'SocketError')
      t.is(live.causeCode, 'UND_ERR_SOCKET')
      t.deepEqual(replayed, live)
    } finally {
      await server.close()
    }
  })

  test('an abort by the caller’s timeout signal replays as the same TimeoutError', async (t) => {
    const server = await startServer()
    try {
      const call = (dispatcher: Dispatcher) =>
        fetch(`${server.origin}/slow?ms=3000`, {
          dispatcher,
          signal: AbortSignal.timeout(150),
        } as unknown as RequestInit)
      const { live, replayed } = await recordAndReplayFailure(call)
      t.is(live.name, 'TimeoutError')
      t.deepEqual(replayed, live)
    } finally {
      await server.close()
    }
  })

  test('undici.request rejects on replay with the recorded error itself', async (t) => {
    const port = await closedPort()
    const { live, replayed } = await recordAndReplayFailure((dispatcher) =>
      request(`http://127.0.0.1:${port}/`, { dispatcher }).then(() => {
        throw new Error('expected a failure')
      }),
    )
    t.is((live as Failure).name, 'Error')
    t.deepEqual(replayed, live)
  })
}
