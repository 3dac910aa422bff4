// Plain SVG charts for the benchmark: no charting dependency.

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= value) return m * p;
  return 10 * p;
}

function short(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(1)}`;
}

// Lines that coincide (select and poll often do) stay distinguishable.
const DASHES = ['', ' stroke-dasharray="9 5"', ' stroke-dasharray="2 4"'];

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];

/** Horizontal bars, one per label. */
export function barChartSvg(title: string, axis: string, bars: { label: string; value: number }[]): string {
  const rowH = 28;
  const left = 120;
  const width = 720;
  const plotW = width - left - 90;
  const top = 50;
  const height = top + bars.length * rowH + 50;
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const x = left + (plotW * i) / 4;
    out.push(`<line x1="${x}" y1="${top - 6}" x2="${x}" y2="${top + bars.length * rowH}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${top + bars.length * rowH + 18}" text-anchor="middle" fill="#555">${short((max * i) / 4)}</text>`);
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, (plotW * b.value) / max);
    out.push(`<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${(left + w + 6).toFixed(1)}" y="${y + 18}" fill="#333">${short(b.value)}</text>`);
  });
  out.push(`<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle" fill="#333">${esc(axis)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** One line per series over a shared numeric x axis. */
export function lineChartSvg(
  title: string,
  xLabel: string,
  yLabel: string,
  series: { name: string; points: { x: number; y: number }[] }[],
): string {
  const width = 720;
  const height = 420;
  const left = 80;
  const right = 150;
  const top = 50;
  const bottom = 60;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(1, ...all.map((p) => p.x)));
  const yMax = niceMax(Math.max(1, ...all.map((p) => p.y)));
  const px = (x: number) => left + (plotW * x) / xMax;
  const py = (y: number) => top + plotH - (plotH * y) / yMax;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const y = py((yMax * i) / 5);
    const x = px((xMax * i) / 5);
    out.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end" fill="#555">${short((yMax * i) / 5)}</text>`);
    out.push(`<text x="${x}" y="${top + plotH + 18}" text-anchor="middle" fill="#555">${short((xMax * i) / 5)}</text>`);
  }
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 0) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5"${DASHES[i % DASHES.length]} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${color}"/>`);
    out.push(`<rect x="${left + plotW + 16}" y="${top + i * 22}" width="14" height="14" fill="${color}"/>`);
    out.push(`<text x="${left + plotW + 36}" y="${top + i * 22 + 12}">${esc(s.name)}</text>`);
  });
  out.push(`<text x="${left + plotW / 2}" y="${height - 14}" text-anchor="middle" fill="#333">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(yLabel)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
