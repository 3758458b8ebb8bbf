// One measurement of the node:http workload, in a fresh process: replay all N requests of the
// shared workload through axios (its default adapter, node:http) in a seeded shuffled order,
// verify every body, print one JSON line with the per-request time.
//
//   node benchmark/compare/axios-worker.mjs '{"tool":"dvd-bin","path":"…","n":1000,"kind":"random","seed":1}'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import axios from 'axios'
import { BODY_BYTES, body, contentType, request, shuffled } from './workload.mjs'

const { tool, path, n, kind, seed } = JSON.parse(process.argv[2])

const call = (url, r) =>
  axios.request({
    url,
    method: r.method,
    // A JSON body says so (axios would call a string form data): nock matches bodies by type.
    headers: { ...Object.fromEntries(r.headers), ...(r.body ? { 'content-type': 'application/json' } : {}) },
    data: r.body ?? undefined,
    responseType: 'arraybuffer',
    validateStatus: () => true,
  })

/** Sets the tool up; `{ get(request) → axios response, fixed?, close() }`. */
async function setup() {
  switch (tool) {
    case 'dvd-bin': {
      const { DVDLoader } = await import('../../dist/lib/index.js')
      const dvd = await DVDLoader.open(path, { recordMode: 'none', onWarning() {} })
      dvd.install({ intercept: ['http'] })
      return { get: (r) => call(r.url, r), close: () => dvd.close() }
    }
    case 'nock': {
      const { default: nock } = await import('nock')
      nock.back.fixtures = path.dir
      nock.back.setMode('lockdown')
      const { nockDone } = await nock.back(path.file)
      return { get: (r) => call(r.url, r), close: () => nockDone() }
    }
    case 'floor': {
      // The floor of node:http replay: the same interception answering one fixed 2 KiB body.
      // dvd-rw's own copy (benchmark/node_modules holds nock's, another version).
      const root = createRequire(new URL('../../package.json', import.meta.url))
      const module = pathToFileURL(root.resolve('@mswjs/interceptors/ClientRequest')).href
      const { ClientRequestInterceptor } = await import(module)
      const fixed = Buffer.from(body(0, kind))
      const headers = { 'content-type': contentType(kind), 'content-length': String(BODY_BYTES) }
      const interceptor = new ClientRequestInterceptor()
      interceptor.on('request', ({ controller }) => controller.respondWith(new Response(fixed, { headers })))
      interceptor.apply()
      return { get: (r) => call(r.url, r), fixed, close: () => interceptor.dispose() }
    }
    case 'live': {
      const here = fileURLToPath(new URL('.', import.meta.url))
      const server = spawn(process.execPath, [join(here, 'live-server.mjs'), kind], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const [line] = await once(server.stdout, 'data')
      const port = Number(String(line).trim())
      return {
        get: (r) => call(`http://127.0.0.1:${port}/${r.host}${r.path}`, r),
        close: () => server.kill(),
      }
    }
    default:
      throw new Error(`unknown tool ${tool}`)
  }
}

const result = { tool, n, kind }
try {
  const order = shuffled(n, seed)
  const s = await setup()
  let wrong = 0
  const one = async (i) => {
    const res = await s.get(request(i))
    const expected = body(i, kind)
    if (res.status !== 200 || Buffer.compare(Buffer.from(res.data), s.fixed ?? expected) !== 0) wrong++
  }
  // The first requests compile axios's and the tool's paths: not timed.
  const warm = Math.min(50, n >> 2)
  for (let k = 0; k < warm; k++) await one(order[k])
  const t0 = performance.now()
  for (let k = warm; k < n; k++) await one(order[k])
  const t1 = performance.now()
  await s.close()
  Object.assign(result, { ok: wrong === 0, wrong, perRequestUs: ((t1 - t0) * 1000) / (n - warm) })
} catch (error) {
  Object.assign(result, { ok: false, error: String(error?.stack ?? error) })
}
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exit(0)
