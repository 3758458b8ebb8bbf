/**
 * Network errors as data: capture what the dispatcher saw when a request failed, and rebuild an
 * error of the same class, `name`, `code` and message on replay, so `fetch` rejects with the same
 * `TypeError('fetch failed', { cause })` as it did live.
 */
import { errors as undiciErrors } from 'undici'
import type { RecordedError } from './model.js'

/** Properties of Node system errors worth keeping (ECONNREFUSED, ENOTFOUND…). */
const DETAIL_KEYS = ['errno', 'syscall', 'address', 'port', 'hostname'] as const

type ErrorClass = new (message?: string) => Error

/** undici's own error classes, by class name. */
const UNDICI_CLASSES: Record<string, ErrorClass> = Object.fromEntries(
  Object.entries(undiciErrors).filter(([, value]) => typeof value === 'function'),
) as Record<string, ErrorClass>

/** Turns an error seen by the dispatcher into a recording. */
export function captureError(error: unknown, elapsedMs: number): RecordedError {
  if (!(error instanceof Error) && !(error instanceof DOMException)) {
    return { errorClass: 'Error', name: 'Error', message: String(error), elapsedMs }
  }
  const recorded: RecordedError = {
    errorClass: error.constructor?.name || 'Error',
    name: error.name,
    message: error.message,
    elapsedMs,
  }
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') recorded.code = code
  const details: Record<string, string | number> = {}
  for (const key of DETAIL_KEYS) {
    const value = (error as unknown as Record<string, unknown>)[key]
    if (typeof value === 'string' || typeof value === 'number') details[key] = value
  }
  if (Object.keys(details).length > 0) recorded.details = details
  return recorded
}

/** True for errors that come from the caller giving up (an abort signal), not from the network. */
export function isAbort(recorded: RecordedError): boolean {
  return recorded.errorClass === 'DOMException' || recorded.code === 'UND_ERR_ABORTED'
}

/** Rebuilds an error of the recorded class with the recorded name, code, message and details. */
export function reviveError(recorded: RecordedError): Error {
  let error: Error
  const undiciClass = UNDICI_CLASSES[recorded.errorClass]
  if (recorded.errorClass === 'DOMException') {
    error = new DOMException(recorded.message, recorded.name) as unknown as Error
    return error
  }
  if (undiciClass) {
    error = new undiciClass(recorded.message)
  } else if (recorded.errorClass === 'TypeError') {
    error = new TypeError(recorded.message)
  } else if (recorded.errorClass === 'RangeError') {
    error = new RangeError(recorded.message)
  } else {
    error = new Error(recorded.message)
    if (recorded.name !== 'Error') error.name = recorded.name
  }
  error.message = recorded.message
  const target = error as unknown as Record<string, unknown>
  if (recorded.code !== undefined) target.code = recorded.code
  for (const [key, value] of Object.entries(recorded.details ?? {})) target[key] = value
  return error
}
