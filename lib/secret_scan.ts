/**
 * Finds strings shaped like credentials in recordings, for `dvd-convert scan` in a CI step: a
 * token that reached a DVD before a filter existed is named by recording and place (never printed
 * whole), so it can be scrubbed with `dvd-convert redact`.
 */
import { withDecodedBody } from './content_encoding.js'
import { type DVDResponse, isRecordedError, type Recording } from './model.js'

/** The shapes looked for. Each must be specific enough that ordinary API data never matches. */
export const CREDENTIAL_SHAPES: readonly { kind: string; pattern: RegExp }[] = [
  // A bearer token of 16 characters or more (the redacted `Bearer [REDACTED]` is not one).
  { kind: 'bearer token', pattern: /\bBearer\s+[A-Za-z0-9\-._~+/]{16,}=*/g },
  { kind: 'AWS access key', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g },
  // OpenAI-style and Stripe-style secret keys.
  { kind: 'sk- secret key', pattern: /\bsk-[A-Za-z0-9_-]{20,}/g },
  { kind: 'sk_live/sk_test secret key', pattern: /\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}/g },
  { kind: 'GitHub token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})/g },
  { kind: 'private key block', pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/g },
]

/** One credential-shaped string found. */
export interface SecretFinding {
  /** Position of the recording in the DVD (0-based). */
  recording: number
  /** `METHOD url` of the recording's request (its URL shortened). */
  request: string
  /** Where: `request.url`, `request.headers.authorization`, `response.body at byte 17`… */
  place: string
  kind: string
  /** The start of the string, the rest masked, so that the report does not leak it again. */
  masked: string
}

function mask(text: string): string {
  return `${text.slice(0, 6)}…(${text.length} characters)`
}

/** Findings in one piece of text. */
function scanText(
  text: string,
  place: (index: number) => string,
  base: Omit<SecretFinding, 'place' | 'kind' | 'masked'>,
): SecretFinding[] {
  const found: SecretFinding[] = []
  for (const { kind, pattern } of CREDENTIAL_SHAPES) {
    for (const match of text.matchAll(pattern)) {
      found.push({ ...base, place: place(match.index), kind, masked: mask(match[0]) })
    }
  }
  return found
}

/** Bodies are scanned as Latin-1, so that tokens (ASCII) are found in any body, text or not. */
const latin1 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')

function responseFindings(
  response: DVDResponse,
  at: string,
  base: Omit<SecretFinding, 'place' | 'kind' | 'masked'>,
) {
  const found: SecretFinding[] = []
  for (const [name, value] of response.headers)
    found.push(...scanText(value, () => `${at}.headers.${name.toLowerCase()}`, base))
  const body = withDecodedBody(response).body
  if (body && body.length > 0) found.push(...scanText(latin1(body), (i) => `${at}.body at byte ${i}`, base))
  return found
}

/** The credential-shaped strings of a recording. */
export function scanRecording(recording: Recording, index: number): SecretFinding[] {
  const { request, outcome } = recording
  const url = request.url.length > 80 ? `${request.url.slice(0, 80)}…` : request.url
  const base = { recording: index, request: `${request.method} ${url}` }
  const found = scanText(request.url, () => 'request.url', base)
  for (const [name, value] of request.headers)
    found.push(...scanText(value, () => `request.headers.${name.toLowerCase()}`, base))
  if (request.body && request.body.length > 0)
    found.push(...scanText(latin1(request.body), (i) => `request.body at byte ${i}`, base))
  if (!isRecordedError(outcome)) found.push(...responseFindings(outcome, 'response', base))
  else {
    found.push(...scanText(outcome.message, () => 'error.message', base))
    if (outcome.partial) found.push(...responseFindings(outcome.partial, 'error.partial', base))
  }
  return found
}
