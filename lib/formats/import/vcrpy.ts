/**
 * vcrpy cassettes: YAML `{interactions: [{request: {body, headers, method, uri}, response:
 * {status: {code, message}, headers, body: {string}}}], version: 1}`. Bodies are text, or
 * `!!binary` base64 of the wire bytes (a gzip body stays compressed unless the cassette was
 * recorded with `decode_compressed_response`, which also drops the header). Headers map a name
 * to a list of values.
 */
import { parse } from 'yaml'
import type { DVDRequest, DVDResponse, Recording } from '../../model.js'
import { markDecoded, ownReason, ShapeReader } from '../foreign.js'

class CassetteReader extends ShapeReader {
  body(value: unknown, at: string): Buffer | null {
    if (value === undefined || value === null) return null
    if (value instanceof Uint8Array) return Buffer.from(value)
    return Buffer.from(this.string(value, at))
  }

  interaction(value: unknown, at: string): Recording {
    const o = this.object(value, at)
    const req = this.object(o.request, `${at}.request`)
    const request: DVDRequest = {
      method: this.method(req.method, `${at}.request.method`),
      url: this.url(req.uri, `${at}.request.uri`),
      headers: this.headerObject(req.headers, `${at}.request.headers`),
    }
    const requestBody = this.body(req.body, `${at}.request.body`)
    if (requestBody && requestBody.length > 0) request.body = requestBody
    const res = this.object(o.response, `${at}.response`)
    const status = this.object(res.status, `${at}.response.status`)
    const code = this.status(status.code, `${at}.response.status.code`)
    const body =
      res.body === undefined || res.body === null ? null : this.object(res.body, `${at}.response.body`)
    const response: DVDResponse = {
      status: code,
      headers: this.headerObject(res.headers, `${at}.response.headers`),
      body: body ? this.body(body.string, `${at}.response.body.string`) : null,
    }
    const reason = ownReason(code, typeof status.message === 'string' ? status.message : undefined)
    if (reason !== undefined) response.statusText = reason
    return { request, outcome: markDecoded(response) }
  }
}

/** The recordings of a vcrpy cassette, in its order. */
export async function importVcrpy(file: string): Promise<Recording[]> {
  const reader = new CassetteReader(file)
  let data: unknown
  try {
    // PyYAML writes YAML 1.1, whose schema has the `!!binary` tag vcrpy uses for bytes.
    data = parse(await reader.text(), { schema: 'yaml-1.1' })
  } catch (cause) {
    if (!(cause instanceof Error) || cause.name !== 'YAMLParseError') throw cause
    reader.fail('', `invalid YAML (${cause.message})`)
  }
  const top = reader.object(data, '')
  return reader
    .list(top.interactions, 'interactions')
    .map((item, i) => reader.interaction(item, `interactions[${i}]`))
}
