/**
 * Secrets in response bodies: an OAuth token endpoint or an API echoing a key puts credentials in
 * the body, where header redaction does not look. Values of JSON members named in `jsonFields`
 * (at any depth) and text matching `text` (literal strings or regular expressions) are replaced by
 * `[REDACTED]` before the recording is stored. A compressed body is decoded first and stored
 * decoded (its headers fixed), as Python dvd-rw stores bodies; bodies that are not UTF-8 text are
 * left alone.
 */
import { withDecodedBody } from './content_encoding.js'
import { InvalidOptionError } from './errors.js'
import { type DVDResponse, isRecordedError, type Outcome, type Recording } from './model.js'
import { REDACTED, type RedactionSettings, redactRequest, redactResponse } from './redact.js'

/** What `redactResponseBody` replaces, as the `redactResponseBody` option gives it. */
export interface ResponseBodyRedaction {
  /** JSON member names (exact, case-sensitive) whose values become `"[REDACTED]"`, at any depth. */
  jsonFields?: readonly string[]
  /** Literal strings, or regular expressions, replaced by `[REDACTED]` in text bodies (JSON too). */
  text?: readonly (string | RegExp)[]
}

/** The rules after validation. */
export interface BodyRules {
  jsonFields: ReadonlySet<string>
  /** Global regular expressions (literals escaped). */
  text: readonly RegExp[]
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Validates the `redactResponseBody` option; `undefined` when there is nothing to redact. */
export function bodyRules(value: unknown, source = 'redactResponseBody'): BodyRules | undefined {
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidOptionError(`${source} must be an object { jsonFields?, text? }`)
  const { jsonFields = [], text = [], ...rest } = value as ResponseBodyRedaction
  const unknown = Object.keys(rest)
  if (unknown.length > 0)
    throw new InvalidOptionError(`${source}: unknown key ${unknown.join(', ')} (jsonFields, text)`)
  if (!Array.isArray(jsonFields) || jsonFields.some((f) => typeof f !== 'string' || f === ''))
    throw new InvalidOptionError(`${source}.jsonFields must be an array of member names`)
  if (!Array.isArray(text) || text.some((t) => !(t instanceof RegExp) && (typeof t !== 'string' || t === '')))
    throw new InvalidOptionError(
      `${source}.text must be an array of non-empty strings or regular expressions`,
    )
  const patterns = text.map((t) =>
    typeof t === 'string'
      ? new RegExp(escapeRegExp(t), 'g')
      : new RegExp(t.source, t.flags.includes('g') ? t.flags : `${t.flags}g`),
  )
  if (jsonFields.length === 0 && patterns.length === 0) return undefined
  return { jsonFields: new Set(jsonFields), text: patterns }
}

/** Replaces, in place, the values of the named members anywhere in a parsed JSON value. */
function redactFields(root: unknown, names: ReadonlySet<string>): boolean {
  let changed = false
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const node = stack.pop()
    if (node === null || typeof node !== 'object') continue
    const o = node as Record<string, unknown>
    for (const key of Object.keys(o)) {
      if (!Array.isArray(node) && names.has(key) && o[key] !== REDACTED) {
        o[key] = REDACTED
        changed = true
      } else stack.push(o[key])
    }
  }
  return changed
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The response with the secrets of its body replaced; the same object when there are none. */
export function redactResponseBody(response: DVDResponse, rules: BodyRules): DVDResponse {
  if (!response.body || response.body.length === 0) return response
  const plain = withDecodedBody(response)
  let text: string
  try {
    text = utf8.decode(plain.body!)
  } catch {
    return response
  }
  let out = text
  if (rules.jsonFields.size > 0) {
    try {
      const parsed: unknown = JSON.parse(text)
      if (redactFields(parsed, rules.jsonFields)) out = JSON.stringify(parsed)
    } catch {
      // Not JSON: only the text rules apply.
    }
  }
  for (const pattern of rules.text) out = out.replace(pattern, REDACTED)
  if (out === text) return response
  const body = Buffer.from(out)
  // The stored headers must tell the truth about the stored body.
  const headers = plain.headers.map(([k, v]): [string, string] =>
    k.toLowerCase() === 'content-length' ? [k, String(body.length)] : [k, v],
  )
  return { ...plain, headers, body }
}

/**
 * The outcome as it is stored: the secrets of its response body replaced, then its secret headers
 * (`set-cookie`…); a recorded error's partial response too.
 */
export function redactOutcome(
  outcome: Outcome,
  secretHeaders: ReadonlySet<string>,
  rules: BodyRules | undefined,
): Outcome {
  const redact = (response: DVDResponse) => {
    const scrubbed = rules ? redactResponseBody(response, rules) : response
    return secretHeaders.size > 0 ? redactResponse(scrubbed, secretHeaders) : scrubbed
  }
  if (!isRecordedError(outcome)) return redact(outcome)
  const partial = outcome.partial && redact(outcome.partial)
  return partial === outcome.partial ? outcome : { ...outcome, partial }
}

/** A whole recording with every rule applied, as `dvd-convert redact` rewrites an existing DVD. */
export function redactRecording(
  recording: Recording,
  settings: RedactionSettings,
  rules: BodyRules | undefined,
): Recording {
  return {
    request: redactRequest(recording.request, settings),
    outcome: redactOutcome(recording.outcome, settings.secretHeaders, rules),
  }
}
