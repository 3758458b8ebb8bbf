/**
 * The `node:http` clients users have, each driven the same way: GET or POST a URL, get back the
 * status, the headers and the body bytes as the client hands them to its caller (decompressed
 * where the client decompresses), or the error it fails with.
 */
import http from 'node:http'
import axios from 'axios'
import got from 'got'
import nodeFetch from 'node-fetch'
import superagent from 'superagent'

/** What a client gave its caller. */
export interface Received {
  status: number
  /** Lower-case names; repeats joined as the client joins them. */
  headers: Record<string, unknown>
  body: Buffer
}

export interface CallOptions {
  method?: 'GET' | 'POST'
  body?: Buffer | string
  headers?: Record<string, string>
  /** Milliseconds before the client gives up. */
  timeout?: number
}

/** A client: one request, the response as the caller sees it. */
export type Client = (url: string, options?: CallOptions) => Promise<Received>

/** Headers worth comparing between a live and a replayed response. */
export function comparable(headers: Record<string, unknown>): Record<string, unknown> {
  const { date: _date, connection: _connection, 'keep-alive': _keepAlive, ...rest } = headers
  return rest
}

export const clients: Record<string, Client> = {
  axios: async (url, o = {}) => {
    const res = await axios.request({
      url,
      method: o.method ?? 'GET',
      data: o.body,
      headers: o.headers ?? {},
      responseType: 'arraybuffer',
      validateStatus: () => true,
      timeout: o.timeout ?? 0,
      maxRedirects: 5,
    })
    return { status: res.status, headers: { ...res.headers }, body: Buffer.from(res.data) }
  },
  got: async (url, o = {}) => {
    const res = await got(url, {
      method: o.method ?? 'GET',
      body: o.body,
      headers: o.headers ?? {},
      responseType: 'buffer',
      throwHttpErrors: false,
      retry: { limit: 0 },
      ...(o.timeout ? { timeout: { request: o.timeout } } : {}),
    })
    return { status: res.statusCode, headers: { ...res.headers }, body: res.body }
  },
  'node-fetch': async (url, o = {}) => {
    const res = await nodeFetch(url, {
      method: o.method ?? 'GET',
      body: o.body,
      headers: o.headers ?? {},
      timeout: o.timeout ?? 0,
    })
    const headers: Record<string, unknown> = {}
    for (const [name, value] of res.headers) headers[name] = value
    return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) }
  },
  superagent: async (url, o = {}) => {
    let req = o.method === 'POST' ? superagent.post(url) : superagent.get(url)
    req = req
      .set(o.headers ?? {})
      .ok(() => true)
      .buffer(true)
    // superagent hands text bodies over as text and others as bytes: ask for bytes always.
    req = req.parse((res, done) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => done(null, Buffer.concat(chunks)))
    })
    if (o.timeout) req = req.timeout(o.timeout)
    if (o.body !== undefined) req = req.send(o.body)
    const res = await req
    return { status: res.status, headers: { ...res.headers }, body: res.body as Buffer }
  },
  'http.get': (url, o = {}) =>
    new Promise<Received>((resolve, reject) => {
      const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers ?? {} }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: { ...res.headers }, body: Buffer.concat(chunks) }),
        )
        res.on('error', reject)
      })
      req.on('error', reject)
      if (o.timeout) req.setTimeout(o.timeout, () => req.destroy(new Error('timed out')))
      req.end(o.body)
    }),
}

/** The `code` a call fails with (the client's own, e.g. axios's `ECONNABORTED` on a timeout). */
export async function failureCode(call: Promise<unknown>): Promise<{ code: unknown; message: string }> {
  try {
    await call
  } catch (error) {
    const e = error as Error & { code?: unknown }
    return { code: e.code, message: e.message }
  }
  throw new Error('expected the request to fail')
}
