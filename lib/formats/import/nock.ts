/**
 * nock.back fixtures (nock 15): a JSON list of definitions `{scope, method, path, body, status,
 * response, rawHeaders, responseIsBinary}`. nock keeps JSON bodies parsed, binary bodies as hex
 * with `responseIsBinary`, and a compressed body as a list of hex chunks it compressed again
 * from what the client decoded; `rawHeaders` is an object (a flat list in older versions).
 */
import type { DVDRequest, DVDResponse, Recording } from '../../model.js'
import { markDecoded, type Obj, ShapeReader, withTrueLength } from '../foreign.js'

const HEX = /^(?:[0-9a-f]{2})*$/i

class NockReader extends ShapeReader {
  hex(value: string, at: string): Buffer {
    if (!HEX.test(value)) this.fail(at, 'expected hexadecimal bytes')
    return Buffer.from(value, 'hex')
  }

  /** A request or response body as nock stored it. */
  body(value: unknown, at: string, binary: boolean, encoded: boolean): Buffer | null {
    if (value === undefined || value === null) return null
    if (typeof value === 'string') return binary ? this.hex(value, at) : Buffer.from(value)
    if (
      encoded &&
      Array.isArray(value) &&
      value.every((chunk) => typeof chunk === 'string' && HEX.test(chunk))
    ) {
      return Buffer.concat(value.map((chunk, i) => this.hex(chunk as string, `${at}[${i}]`)))
    }
    // A JSON body nock parsed: written back compactly, as servers usually send it.
    return Buffer.from(JSON.stringify(value))
  }

  definition(value: unknown, at: string): Recording {
    const o: Obj = this.object(value, at)
    const scope = this.string(o.scope, `${at}.scope`)
    const path = this.string(o.path, `${at}.path`)
    const request: DVDRequest = {
      method: this.method(o.method, `${at}.method`),
      url: this.url(scope.replace(/\/$/, '') + path, `${at}.path`),
      headers: this.headerObject(o.reqheaders, `${at}.reqheaders`),
    }
    const requestBody = this.body(o.body, `${at}.body`, false, false)
    if (requestBody && requestBody.length > 0) request.body = requestBody
    const headers = this.headerObject(o.rawHeaders ?? o.headers, `${at}.rawHeaders`)
    const encoded = headers.some(([name]) => name.toLowerCase() === 'content-encoding')
    const body =
      this.body(o.response, `${at}.response`, o.responseIsBinary === true, encoded) ?? Buffer.alloc(0)
    const response: DVDResponse = {
      status: o.status === undefined ? 200 : this.status(o.status, `${at}.status`),
      // nock compressed the body again: its length is not the one the server announced.
      headers: withTrueLength(headers, body.length),
      body,
    }
    return { request, outcome: markDecoded(response) }
  }
}

/** The recordings of a nock.back fixture, in its order. */
export async function importNock(file: string): Promise<Recording[]> {
  const reader = new NockReader(file)
  const list = reader.list(await reader.json(), '')
  return list.map((definition, i) => reader.definition(definition, `[${i}]`))
}
