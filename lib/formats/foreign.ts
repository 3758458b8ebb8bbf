/**
 * Reading files other tools wrote (HAR, nock fixtures, SnapshotAgent snapshots, vcrpy cassettes):
 * shape checks whose failures name the file and the place inside it, and the conversions of
 * their header and status conventions into the DVD model.
 */
import { readFile } from 'node:fs/promises'
import { STATUS_CODES } from 'node:http'
import { contentCodings, decodedBody } from '../content_encoding.js'
import { DVDFormatError } from '../errors.js'
import type { DVDResponse, HeaderPair } from '../model.js'
import { describe, parseBase64 } from './json.js'

export type Obj = Record<string, unknown>

/** Shape checks over parsed data; every failure is a {@link DVDFormatError} at a place in `file`. */
export class ShapeReader {
  readonly file: string

  constructor(file: string) {
    this.file = file
  }

  fail(at: string, problem: string): never {
    throw new DVDFormatError(this.file, at, problem)
  }

  /** The file's text. */
  async text(): Promise<string> {
    try {
      return await readFile(this.file, 'utf8')
    } catch (cause) {
      throw new DVDFormatError(this.file, '', `cannot read the file (${(cause as Error).message})`, {
        cause,
        code: 'DVD_ERR_IO',
      })
    }
  }

  /** The file parsed as JSON. */
  async json(): Promise<unknown> {
    const text = await this.text()
    try {
      return JSON.parse(text)
    } catch (cause) {
      throw new DVDFormatError(this.file, '', `invalid JSON (${(cause as Error).message})`, { cause })
    }
  }

  object(value: unknown, at: string): Obj {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.fail(at, `expected an object, found ${describe(value)}`)
    }
    return value as Obj
  }

  string(value: unknown, at: string): string {
    if (typeof value !== 'string') this.fail(at, `expected a string, found ${describe(value)}`)
    return value
  }

  list(value: unknown, at: string): unknown[] {
    if (!Array.isArray(value)) this.fail(at, `expected a list, found ${describe(value)}`)
    return value
  }

  status(value: unknown, at: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 100 || value > 999) {
      this.fail(at, `expected an HTTP status (integer 100-999), found ${describe(value)}`)
    }
    return value
  }

  url(value: unknown, at: string): string {
    const url = this.string(value, at)
    if (!URL.canParse(url)) this.fail(at, `not an absolute URL: "${url}"`)
    return url
  }

  method(value: unknown, at: string): string {
    const method = this.string(value, at)
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) this.fail(at, `invalid HTTP method "${method}"`)
    return method.toUpperCase()
  }

  base64(value: unknown, at: string): Buffer {
    return parseBase64(this.string(value, at), at, this.file) ?? Buffer.alloc(0)
  }

  /**
   * Headers kept as an object of name → value or list of values (nock, SnapshotAgent, vcrpy),
   * or as nock's older flat `[name, value, name, value…]` list.
   */
  headerObject(value: unknown, at: string): HeaderPair[] {
    if (value === undefined || value === null) return []
    const pairs: HeaderPair[] = []
    if (Array.isArray(value)) {
      for (let i = 0; i + 1 < value.length; i += 2) {
        pairs.push([this.string(value[i], `${at}[${i}]`), this.string(value[i + 1], `${at}[${i + 1}]`)])
      }
      return pairs
    }
    for (const [name, v] of Object.entries(this.object(value, at))) {
      const values = Array.isArray(v) ? v : [v]
      values.forEach((one, i) => {
        const where = Array.isArray(v) ? `${at}.${name}[${i}]` : `${at}.${name}`
        pairs.push([name, typeof one === 'number' ? String(one) : this.string(one, where)])
      })
    }
    return pairs
  }
}

/** The reason phrase to keep: only one the server chose itself (replay sends the standard one anyway). */
export function ownReason(status: number, text: string | undefined): string | undefined {
  return text && text !== STATUS_CODES[status] ? text : undefined
}

/**
 * Marks a body that other tools stored decoded although its headers still name a
 * content-encoding (the usual case in HAR): replay then serves it without that header. A body
 * that does decode is left as the wire bytes it is.
 */
export function markDecoded(response: DVDResponse): DVDResponse {
  if (response.body && response.body.length > 0 && contentCodings(response).length > 0) {
    if (decodedBody(response) === undefined) response.bodyDecoded = true
  }
  return response
}

/** Headers with `content-length` made to tell the body's true length, when they give one. */
export function withTrueLength(headers: HeaderPair[], length: number): HeaderPair[] {
  return headers.map(([name, value]) =>
    name.toLowerCase() === 'content-length' && value !== String(length)
      ? [name, String(length)]
      : [name, value],
  )
}
