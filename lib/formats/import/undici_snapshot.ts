/**
 * undici's SnapshotAgent snapshot files (undici 7): a JSON list of `{hash, snapshot: {request:
 * {method, url, headers, body}, responses: [{statusCode, headers, body, trailers}], …}}`. Bodies
 * are base64 of the wire bytes (a gzip body stays compressed); redirects are stored hop by hop;
 * the responses of repeated calls become consecutive recordings of the same request.
 */
import type { DVDRequest, Recording } from '../../model.js'
import { markDecoded, ShapeReader } from '../foreign.js'

class SnapshotReader extends ShapeReader {
  request(value: unknown, at: string): DVDRequest {
    const o = this.object(value, at)
    const request: DVDRequest = {
      method: this.method(o.method, `${at}.method`),
      url: this.url(o.url, `${at}.url`),
      headers: this.headerObject(o.headers, `${at}.headers`),
    }
    if (o.body !== undefined && o.body !== null && o.body !== '') {
      request.body = Buffer.from(this.string(o.body, `${at}.body`))
    }
    return request
  }

  snapshot(value: unknown, at: string): Recording[] {
    const snapshot = this.object(this.object(value, at).snapshot, `${at}.snapshot`)
    const request = this.request(snapshot.request, `${at}.snapshot.request`)
    return this.list(snapshot.responses, `${at}.snapshot.responses`).map((item, i) => {
      const where = `${at}.snapshot.responses[${i}]`
      const o = this.object(item, where)
      const body = o.body === undefined || o.body === null ? null : this.base64(o.body, `${where}.body`)
      const response = {
        status: this.status(o.statusCode, `${where}.statusCode`),
        headers: this.headerObject(o.headers, `${where}.headers`),
        body,
      }
      return { request, outcome: markDecoded(response) }
    })
  }
}

/** The recordings of a SnapshotAgent snapshot file, each response of a request in turn. */
export async function importUndiciSnapshot(file: string): Promise<Recording[]> {
  const reader = new SnapshotReader(file)
  const list = reader.list(await reader.json(), '')
  return list.flatMap((item, i) => reader.snapshot(item, `[${i}]`))
}
