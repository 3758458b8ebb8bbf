/**
 * The HAR 1.2 specification's required fields and their types, checked field by field: the
 * problems found in a HAR document (empty when it conforms). Custom fields start with `_`.
 */
type Obj = Record<string, unknown>

const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

export function harProblems(har: unknown): string[] {
  const problems: string[] = []
  const need = (o: Obj, key: string, type: 'string' | 'number' | 'object' | 'array', at: string) => {
    const value = o[key]
    const ok =
      type === 'array'
        ? Array.isArray(value)
        : type === 'object'
          ? value !== null && typeof value === 'object' && !Array.isArray(value)
          : typeof value === type
    if (!ok) problems.push(`${at}.${key}: expected ${type}, found ${JSON.stringify(value)}`)
    return ok
  }
  const pairs = (o: Obj, key: string, at: string) => {
    if (!need(o, key, 'array', at)) return
    ;(o[key] as Obj[]).forEach((p, i) => {
      need(p, 'name', 'string', `${at}.${key}[${i}]`)
      need(p, 'value', 'string', `${at}.${key}[${i}]`)
    })
  }
  const top = har as Obj
  if (!need(top, 'log', 'object', '')) return problems
  const log = top.log as Obj
  if (log.version !== '1.2')
    problems.push(`log.version: expected "1.2", found ${JSON.stringify(log.version)}`)
  if (need(log, 'creator', 'object', 'log')) {
    need(log.creator as Obj, 'name', 'string', 'log.creator')
    need(log.creator as Obj, 'version', 'string', 'log.creator')
  }
  if (log.pages !== undefined) need(log, 'pages', 'array', 'log')
  if (!need(log, 'entries', 'array', 'log')) return problems
  ;(log.entries as Obj[]).forEach((entry, i) => {
    const at = `log.entries[${i}]`
    if (need(entry, 'startedDateTime', 'string', at) && !ISO_8601.test(entry.startedDateTime as string)) {
      problems.push(`${at}.startedDateTime: not ISO 8601: ${entry.startedDateTime}`)
    }
    need(entry, 'time', 'number', at)
    need(entry, 'cache', 'object', at)
    if (need(entry, 'timings', 'object', at)) {
      const timings = entry.timings as Obj
      for (const key of ['send', 'wait', 'receive']) {
        if (need(timings, key, 'number', `${at}.timings`) && (timings[key] as number) < 0) {
          problems.push(`${at}.timings.${key}: must not be negative`)
        }
      }
      for (const key of ['blocked', 'dns', 'connect', 'ssl']) {
        if (timings[key] !== undefined && !((timings[key] as number) >= -1)) {
          problems.push(`${at}.timings.${key}: expected a number >= -1`)
        }
      }
    }
    if (need(entry, 'request', 'object', at)) {
      const r = entry.request as Obj
      const ra = `${at}.request`
      for (const key of ['method', 'url', 'httpVersion']) need(r, key, 'string', ra)
      need(r, 'cookies', 'array', ra)
      pairs(r, 'headers', ra)
      pairs(r, 'queryString', ra)
      need(r, 'headersSize', 'number', ra)
      need(r, 'bodySize', 'number', ra)
      if (r.postData !== undefined && need(r, 'postData', 'object', ra)) {
        const p = r.postData as Obj
        need(p, 'mimeType', 'string', `${ra}.postData`)
        if (p.text === undefined && p.params === undefined)
          problems.push(`${ra}.postData: needs text or params`)
      }
    }
    if (need(entry, 'response', 'object', at)) {
      const r = entry.response as Obj
      const ra = `${at}.response`
      need(r, 'status', 'number', ra)
      for (const key of ['statusText', 'httpVersion', 'redirectURL']) need(r, key, 'string', ra)
      need(r, 'cookies', 'array', ra)
      pairs(r, 'headers', ra)
      need(r, 'headersSize', 'number', ra)
      need(r, 'bodySize', 'number', ra)
      if (need(r, 'content', 'object', ra)) {
        const c = r.content as Obj
        need(c, 'size', 'number', `${ra}.content`)
        need(c, 'mimeType', 'string', `${ra}.content`)
        if (c.text !== undefined) need(c, 'text', 'string', `${ra}.content`)
      }
    }
    for (const key of Object.keys(entry)) {
      if (
        !key.startsWith('_') &&
        ![
          'pageref',
          'startedDateTime',
          'time',
          'request',
          'response',
          'cache',
          'timings',
          'serverIPAddress',
          'connection',
          'comment',
        ].includes(key)
      ) {
        problems.push(`${at}.${key}: not a HAR 1.2 field (custom fields start with "_")`)
      }
    }
  })
  return problems
}
