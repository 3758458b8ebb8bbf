/**
 * Recorded errors ↔ the httpx exception types Python dvd-rw stores as `exc_type`. Python refuses a
 * whole DVD if one `exc_type` does not import, so only httpx names are ever written.
 */
import type { DVDRequest, RecordedError } from '../model.js'

/** The httpx exception types dvd-rw writes, all importable wherever httpx is installed. */
export const HTTPX_TYPES = [
  'httpx.ConnectError',
  'httpx.ConnectTimeout',
  'httpx.ReadTimeout',
  'httpx.WriteTimeout',
  'httpx.PoolTimeout',
  'httpx.TimeoutException',
  'httpx.ReadError',
  'httpx.WriteError',
  'httpx.RemoteProtocolError',
  'httpx.LocalProtocolError',
  'httpx.ProxyError',
  'httpx.UnsupportedProtocol',
  'httpx.NetworkError',
  'httpx.TransportError',
  'httpx.RequestError',
] as const

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
])

/** The httpx type a recorded Node error is written as. */
export function toPythonType(error: RecordedError): string {
  if (error.pythonType) return error.pythonType
  const code = error.code ?? ''
  if (CONNECT_CODES.has(code)) return 'httpx.ConnectError'
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'httpx.ConnectTimeout'
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'httpx.ReadTimeout'
  if (code === 'UND_ERR_SOCKET' || code === 'HPE_INVALID_CONSTANT' || code.startsWith('HPE_')) {
    return 'httpx.RemoteProtocolError'
  }
  if (code === 'ECONNRESET') return 'httpx.ReadError'
  if (code === 'EPIPE') return 'httpx.WriteError'
  if (error.name === 'TimeoutError') return 'httpx.ReadTimeout'
  return 'httpx.TransportError'
}

/** Linux errno numbers Python puts in messages such as `[Errno 111] Connection refused`. */
const ERRNO_CODES: Record<string, string> = {
  '111': 'ECONNREFUSED',
  '113': 'EHOSTUNREACH',
  '101': 'ENETUNREACH',
  '104': 'ECONNRESET',
  '110': 'ETIMEDOUT',
  '99': 'EADDRNOTAVAIL',
  '-2': 'ENOTFOUND',
  '-3': 'EAI_AGAIN',
  '-5': 'ENOTFOUND',
}
const ERRNO_VALUES: Record<string, number> = {
  ECONNREFUSED: -111,
  EHOSTUNREACH: -113,
  ENETUNREACH: -101,
  ECONNRESET: -104,
  EPIPE: -32,
  ETIMEDOUT: -110,
  EADDRNOTAVAIL: -99,
  ENOTFOUND: -3008,
  EAI_AGAIN: -3001,
}

function connectCode(message: string): string {
  const errno = /\[Errno (-?\d+)\]/.exec(message)?.[1]
  if (errno && ERRNO_CODES[errno]) return ERRNO_CODES[errno]
  if (/name or service not known|nodename nor servname|getaddrinfo|name resolution/i.test(message))
    return 'ENOTFOUND'
  if (/unreachable/i.test(message)) return 'EHOSTUNREACH'
  return 'ECONNREFUSED'
}

function systemError(code: string, request: DVDRequest, pythonType: string): RecordedError {
  const url = new URL(request.url)
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  const dns = code === 'ENOTFOUND' || code === 'EAI_AGAIN'
  const details: Record<string, string | number> = dns
    ? { errno: ERRNO_VALUES[code] ?? -3008, syscall: 'getaddrinfo', hostname: url.hostname }
    : { errno: ERRNO_VALUES[code] ?? -1, syscall: 'connect', address: url.hostname, port: Number(port) }
  return {
    errorClass: 'Error',
    name: 'Error',
    code,
    message: dns ? `getaddrinfo ${code} ${url.hostname}` : `connect ${code} ${url.hostname}:${port}`,
    details,
    pythonType,
  }
}

/** An error of an open socket, as Node reports it: `read ECONNRESET`, `write EPIPE`. */
function socketError(
  code: 'ECONNRESET' | 'EPIPE',
  syscall: 'read' | 'write',
  pythonType: string,
): RecordedError {
  return {
    errorClass: 'Error',
    name: 'Error',
    code,
    message: `${syscall} ${code}`,
    details: { errno: ERRNO_VALUES[code] ?? -1, syscall },
    pythonType,
  }
}

function undiciError(errorClass: string, code: string, message: string, pythonType: string): RecordedError {
  return { errorClass, name: errorClass, code, message, pythonType }
}

/**
 * The Node error to raise for a Python-recorded `exc_type` (used when the file carries no Node
 * details): httpx.ConnectError → a system error (`ECONNREFUSED`, `ENOTFOUND`… read from the
 * message), ConnectTimeout → `ConnectTimeoutError`, Read/Write timeouts → `HeadersTimeoutError`,
 * protocol errors → `SocketError`, read/write errors → `ECONNRESET`/`EPIPE`.
 */
export function fromPythonType(pythonType: string, message: string, request: DVDRequest): RecordedError {
  switch (pythonType) {
    case 'httpx.ConnectError':
    case 'httpx.ProxyError':
      return systemError(connectCode(message), request, pythonType)
    case 'httpx.ConnectTimeout':
    case 'httpx.PoolTimeout':
      return undiciError(
        'ConnectTimeoutError',
        'UND_ERR_CONNECT_TIMEOUT',
        'Connect Timeout Error',
        pythonType,
      )
    case 'httpx.ReadTimeout':
    case 'httpx.WriteTimeout':
    case 'httpx.TimeoutException':
      return undiciError(
        'HeadersTimeoutError',
        'UND_ERR_HEADERS_TIMEOUT',
        'Headers Timeout Error',
        pythonType,
      )
    case 'httpx.ReadError':
    case 'httpx.NetworkError':
      return socketError('ECONNRESET', 'read', pythonType)
    case 'httpx.WriteError':
      return socketError('EPIPE', 'write', pythonType)
    default:
      return undiciError('SocketError', 'UND_ERR_SOCKET', message || pythonType, pythonType)
  }
}
