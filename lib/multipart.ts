/**
 * multipart/form-data encoding of a FormData body (the HTML standard's algorithm, UTF-8), with a
 * given boundary. fetch announces a boundary in the content-type header before the body is
 * written; encoding here with that same boundary gives the bytes fetch would have sent.
 */
import { randomBytes } from 'node:crypto'

type Entry = [name: string, value: string | Blob]

const escapeName = (s: string) => s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22')
const crlfLines = (s: string) => s.replace(/\r?\n|\r/g, '\r\n')

/** The boundary named by a `multipart/form-data; boundary=…` content type, if any. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/form-data\s*;/i.test(contentType)) return undefined
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType)
  return match?.[1] ?? match?.[2]
}

/** A boundary for a body whose request names none. */
export function newBoundary(): string {
  return `----dvd-rw-${randomBytes(12).toString('hex')}`
}

/** The body bytes of `form` encoded with `boundary`. */
export async function encodeFormData(form: Iterable<Entry>, boundary: string): Promise<Buffer> {
  const parts: Buffer[] = []
  const head = `--${boundary}\r\nContent-Disposition: form-data`
  for (const [name, value] of form) {
    const field = `${head}; name="${escapeName(crlfLines(name))}"`
    if (typeof value === 'string') {
      parts.push(Buffer.from(`${field}\r\n\r\n${crlfLines(value)}\r\n`))
      continue
    }
    const fileName = (value as Blob & { name?: string }).name
    parts.push(
      Buffer.from(
        `${field}${fileName ? `; filename="${escapeName(fileName)}"` : ''}\r\n` +
          `Content-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`,
      ),
      Buffer.from(await value.arrayBuffer()),
      Buffer.from('\r\n'),
    )
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return Buffer.concat(parts)
}
