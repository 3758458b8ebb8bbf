// The shared workload of the comparison benchmark (Python dvd-rw's own perf shape): 3 hosts × 2
// methods × 50 paths, a unique `?id=i&page=…` per request, request headers `x-trace-id` and
// `accept`, POST bodies `{"i": i}`, 2 KiB response bodies. Every body is a pure function of its
// request index, so a replay can verify each body it receives without keeping N bodies in memory.

export const HOSTS = ['api.example.com', 'cdn.example.com', 'auth.example.com']
export const METHODS = ['GET', 'POST']
export const BODY_BYTES = 2048

/** The i-th request: `{ method, host, path, url, headers: [[name, value]], body }`. */
export function request(i) {
  const host = HOSTS[i % 3]
  const method = METHODS[Math.floor(i / 3) % 2]
  const pathname = `/v1/items/${Math.floor(i / 6) % 50}`
  const path = `${pathname}?id=${i}&page=${Math.floor(i / 300)}`
  return {
    method,
    host,
    pathname,
    path,
    url: `https://${host}${path}`,
    headers: [
      ['x-trace-id', `trace-${i.toString(16).padStart(8, '0')}`],
      ['accept', 'application/json'],
    ],
    // Python's json.dumps({"i": i}) spelling.
    body: method === 'POST' ? `{"i": ${i}}` : null,
  }
}

const words = new Uint32Array(BODY_BYTES / 4)
const wordBytes = new Uint8Array(words.buffer)

/**
 * Random variant: 2 KiB of xorshift32 output seeded by the index (incompressible, distinct per
 * request). Returns a view on a shared scratch buffer: copy it to keep it.
 */
function randomBody(i) {
  let x = (Math.imul(i + 1, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1
  for (let k = 0; k < words.length; k++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[k] = x
  }
  return wordBytes
}

/**
 * JSON-text variant: compact JSON of exactly 2 KiB (so `JSON.stringify(JSON.parse(body))` gives the
 * same bytes back, which nock's fixtures rely on), distinct per request.
 */
function jsonBody(i) {
  const doc = {
    id: i,
    page: Math.floor(i / 300),
    items: Array.from({ length: 16 }, (_, k) => ({
      id: i * 16 + k,
      name: `item ${k} of request ${i}`,
      ok: (i + k) % 3 !== 0,
      tags: ['alpha', 'beta', 'gamma'].slice(0, 1 + ((i + k) % 3)),
    })),
    pad: '',
  }
  const base = JSON.stringify(doc)
  doc.pad = 'x'.repeat(BODY_BYTES - Buffer.byteLength(base))
  return Buffer.from(JSON.stringify(doc))
}

/** The `fetch` options of a workload request (without a dispatcher). */
export function fetchInit(req) {
  const headers = Object.fromEntries(req.headers)
  return req.body === null ? { method: req.method, headers } : { method: req.method, headers, body: req.body }
}

/** The response body of request i, for `kind` 'random' or 'json'. */
export function body(i, kind) {
  return kind === 'json' ? jsonBody(i) : randomBody(i)
}

export function contentType(kind) {
  return kind === 'json' ? 'application/json' : 'application/octet-stream'
}

/** A seeded Fisher–Yates permutation of 0..n-1 (the replay order). */
export function shuffled(n, seed) {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  let x = seed >>> 0 || 1
  for (let i = n - 1; i > 0; i--) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    const j = (x >>> 0) % (i + 1)
    const t = order[i]
    order[i] = order[j]
    order[j] = t
  }
  return order
}
