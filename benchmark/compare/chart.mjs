// A hand-rolled SVG chart: two log-log panels (load time and per-request cost against N), one
// line per tool. No plotting dependency.

const COLORS = [
  '#1b6ac9',
  '#5fa8f5',
  '#0b3d75',
  '#d1495b',
  '#edae49',
  '#66a182',
  '#8d5fd3',
  '#777777',
  '#aaaaaa',
]
const esc = (s) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')

function fmtTick(v, unit) {
  if (unit === 'ms') return v >= 1000 ? `${v / 1000} s` : `${v} ms`
  return v >= 1000 ? `${v / 1000} ms` : `${v} µs`
}

function panel(series, { x0, y0, w, h, title, unit, key, ns }) {
  const values = series.flatMap((s) => s.points.map((p) => p[key]))
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)))
  const nLo = Math.min(...ns)
  const nHi = Math.max(...ns)
  const sx = (n) =>
    x0 + ((Math.log10(n) - Math.log10(nLo)) / Math.max(1e-9, Math.log10(nHi) - Math.log10(nLo))) * w
  const sy = (v) =>
    y0 + h - ((Math.log10(v) - Math.log10(lo)) / Math.max(1e-9, Math.log10(hi) - Math.log10(lo))) * h
  const out = []
  out.push(
    `<text x="${x0 + w / 2}" y="${y0 - 14}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
  )
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#999"/>`)
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    const y = sy(v)
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" font-size="11">${fmtTick(v, unit)}</text>`)
  }
  for (const n of ns) {
    const x = sx(n)
    out.push(`<line x1="${x}" x2="${x}" y1="${y0}" y2="${y0 + h}" stroke="#e5e5e5"/>`)
    out.push(
      `<text x="${x}" y="${y0 + h + 16}" text-anchor="middle" font-size="11">${n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`}</text>`,
    )
  }
  out.push(
    `<text x="${x0 + w / 2}" y="${y0 + h + 34}" text-anchor="middle" font-size="12">N (recordings replayed)</text>`,
  )
  for (const s of series) {
    const pts = s.points.map((p) => [sx(p.n), sy(p[key])])
    const dash = s.floor ? ' stroke-dasharray="5 4"' : ''
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => p.map((c) => c.toFixed(1)).join(',')).join(' ')}"/>`,
      )
    for (const [x, y] of pts)
      out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${s.color}"/>`)
  }
  return out.join('\n')
}

/** rows: [{ n, tool: { id, label, floor }, r: { loadMs, perRequestUs } }] (valid runs only). */
export function renderChart(rows, { title, cap }) {
  const byTool = new Map()
  for (const x of rows) {
    if (!byTool.has(x.tool.id))
      byTool.set(x.tool.id, { label: x.tool.label, floor: x.tool.floor, points: [] })
    byTool.get(x.tool.id).points.push({ n: x.n, load: x.r.loadMs, req: x.r.perRequestUs })
  }
  const series = [...byTool.values()].map((s, i) => ({ ...s, color: COLORS[i % COLORS.length] }))
  const ns = [...new Set(rows.map((x) => x.n))].sort((a, b) => a - b)
  const W = 1000
  const legendRows = Math.ceil(series.length / 3)
  const H = 430 + legendRows * 20
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(`dvd-rw and alternatives: load time and per-request cost against N, ${title}`)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(`Replay through fetch, ${title} (log–log; missing points: > ${cap} s cap or not loadable)`)}</text>`,
  ]
  if (series.length) {
    out.push(
      panel(series, {
        x0: 80,
        y0: 60,
        w: 380,
        h: 300,
        title: 'Load (open → first replay)',
        unit: 'ms',
        key: 'load',
        ns,
      }),
    )
    out.push(
      panel(series, {
        x0: 580,
        y0: 60,
        w: 380,
        h: 300,
        title: 'Cost per request',
        unit: 'µs',
        key: 'req',
        ns,
      }),
    )
  }
  series.forEach((s, i) => {
    const x = 80 + (i % 3) * 300
    const y = 425 + Math.floor(i / 3) * 20
    const dash = s.floor ? ' stroke-dasharray="5 4"' : ''
    out.push(
      `<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    )
    out.push(`<text x="${x + 30}" y="${y}">${esc(s.label)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
