// Plain SVG charts for the benchmark: no charting dependency. A chart is one
// or more panels stacked under one title.

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
  return `${+n.toFixed(2)}`;
}

// Lines that coincide (select and poll often do) stay distinguishable.
const DASHES = ['', ' stroke-dasharray="9 5"', ' stroke-dasharray="2 4"'];

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];

const WIDTH = 720;

/** About how wide a text of the body's 13 px sans-serif is: wider than most, so what it places fits. */
export function textWidth(text: string): number {
  return text.length * 7.5;
}

function open(title: string, height: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
}

export interface Bar {
  label: string;
  value: number;
  /** Its fill (default: a colour per row). */
  color?: string;
  /** A whisker from min to max (the spread of rounds). */
  min?: number;
  max?: number;
}

export interface BarPanel {
  /** The value axis' label: 'requests/s', 'x C ceiling'. */
  axis: string;
  bars: Bar[];
  /** A dashed vertical line at this value (1 for a ratio). */
  reference?: number;
  /** How a bar's value is written beside it. Default: 12.3k. */
  label?: (value: number) => string;
  /** A logarithmic value axis: bars that differ by powers of ten all stay visible. */
  log?: boolean;
}

/** What a chart says beside its panels: a legend of its colours, and lines a reader must know (the run, its noise). */
export interface ChartNotes {
  legend?: { label: string; color: string }[];
  lines?: string[];
}

/** `text` in lines no wider than `width` at the notes' 12 px, broken at spaces. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (line && (textWidth(next) * 12) / 13 > width) {
      out.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) out.push(line);
  return out;
}

/** A logarithmic axis from the power of ten at or below the least value to the one at or above the most. */
function logScale(values: number[]): { lo: number; hi: number } {
  const positive = values.filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive, 1)));
  const hi = Math.max(lo * 10, 10 ** Math.ceil(Math.log10(Math.max(...positive, 1))));
  return { lo, hi };
}

/**
 * Horizontal bars, one per label, in one or more panels. A bar's value is
 * written after it, or inside its end where after it would leave the chart.
 */
export function barChartSvg(title: string, panels: BarPanel[], notes: ChartNotes = {}): string {
  const rowH = 28;
  const left = 120;
  const plotW = WIDTH - left - 90;
  const panelH = (p: BarPanel) => p.bars.length * rowH + 60;
  const legendH = notes.legend?.length ? 24 : 0;
  const lines = (notes.lines ?? []).flatMap((line) => wrap(line, WIDTH - 24));
  const height = 40 + legendH + panels.reduce((sum, p) => sum + panelH(p), 0) + lines.length * 18;
  const out = open(title, height);
  if (notes.legend?.length) {
    let lx = left;
    for (const item of notes.legend) {
      out.push(`<circle cx="${lx + 6}" cy="44" r="6" fill="${item.color}"/>`);
      out.push(`<text x="${lx + 16}" y="49" fill="#333">${esc(item.label)}</text>`);
      lx += 16 + textWidth(item.label) + 14;
    }
  }
  let top = 50 + legendH;
  for (const panel of panels) {
    const { bars } = panel;
    const values = bars.flatMap((b) => [b.value, b.min ?? b.value, b.max ?? b.value]);
    const max = niceMax(Math.max(0, panel.reference ?? 0, ...values));
    const scale = panel.log ? logScale([...values, ...(panel.reference ? [panel.reference] : [])]) : undefined;
    const x = scale
      ? (v: number) => left + (plotW * (Math.log10(Math.max(v, scale.lo)) - Math.log10(scale.lo))) / Math.log10(scale.hi / scale.lo)
      : (v: number) => left + (plotW * v) / max;
    const bottom = top + bars.length * rowH;
    const ticks = scale
      ? Array.from({ length: Math.round(Math.log10(scale.hi / scale.lo)) + 1 }, (_, i) => scale.lo * 10 ** i)
      : [0, 1, 2, 3, 4].map((i) => (max * i) / 4);
    for (const t of ticks) {
      const gx = x(t);
      out.push(`<line x1="${gx.toFixed(1)}" y1="${top - 6}" x2="${gx.toFixed(1)}" y2="${bottom}" stroke="#ddd"/>`);
      out.push(`<text x="${gx.toFixed(1)}" y="${bottom + 18}" text-anchor="middle" fill="#555">${short(t)}</text>`);
    }
    bars.forEach((b, i) => {
      const y = top + i * rowH;
      const w = Math.max(1, x(b.value) - left);
      out.push(`<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(b.label)}</text>`);
      out.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${b.color ?? COLORS[i % COLORS.length]}"/>`);
      let end = left + w;
      if (b.min !== undefined && b.max !== undefined && b.max > b.min) {
        const cy = y + rowH / 2;
        out.push(
          `<path d="M${x(b.min).toFixed(1)} ${cy}H${x(b.max).toFixed(1)}M${x(b.min).toFixed(1)} ${cy - 5}v10M${x(b.max).toFixed(1)} ${cy - 5}v10" stroke="#222" fill="none"/>`,
        );
        end = Math.max(end, x(b.max));
      }
      const text = (panel.label ?? short)(b.value);
      if (end + 6 + textWidth(text) <= WIDTH - 4) {
        out.push(`<text x="${(end + 6).toFixed(1)}" y="${y + 18}" fill="#333">${esc(text)}</text>`);
      } else {
        out.push(`<text x="${(left + w - 6).toFixed(1)}" y="${y + 18}" text-anchor="end" fill="white">${esc(text)}</text>`);
      }
    });
    if (panel.reference !== undefined) {
      const rx = x(panel.reference).toFixed(1);
      out.push(`<line x1="${rx}" y1="${top - 6}" x2="${rx}" y2="${bottom}" stroke="#333" stroke-dasharray="4 3"/>`);
    }
    out.push(`<text x="${left + plotW / 2}" y="${bottom + 38}" text-anchor="middle" fill="#333">${esc(panel.axis + (scale ? ' (log scale)' : ''))}</text>`);
    top += panelH(panel);
  }
  lines.forEach((line, i) => out.push(`<text x="12" y="${top + 4 + i * 18}" fill="#333" font-size="12">${esc(line)}</text>`));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface LineSeries {
  name: string;
  /** `min`, `max`: a whisker over the point (the spread of rounds). */
  points: { x: number; y: number; min?: number; max?: number }[];
}

export interface LinePanel {
  yLabel: string;
  series: LineSeries[];
}

/** One line per series over a shared numeric x axis, in one or more panels. */
export function lineChartSvg(title: string, xLabel: string, panels: LinePanel[]): string {
  const left = 80;
  const right = 150;
  const plotW = WIDTH - left - right;
  const plotH = 300;
  const panelH = plotH + 70;
  const height = 50 + panels.length * panelH;
  const all = panels.flatMap((p) => p.series.flatMap((s) => s.points));
  const xTop = Math.max(1, ...all.map((p) => p.x));
  // An axis of counts (loops, connections) gets whole ticks: 0, 1, 2, not 0.4, 0.8.
  const xStep = all.every((p) => Number.isInteger(p.x)) ? Math.max(1, Math.ceil(xTop / 5)) : niceMax(xTop) / 5;
  const xTicks = Math.max(1, Math.ceil(xTop / xStep - 1e-9));
  const xMax = xStep * xTicks;
  const px = (x: number) => left + (plotW * x) / xMax;
  const out = open(title, height);
  panels.forEach((panel, n) => {
    const top = 50 + n * panelH;
    const yMax = niceMax(Math.max(1, ...panel.series.flatMap((s) => s.points.map((p) => Math.max(p.y, p.max ?? 0)))));
    const py = (y: number) => top + plotH - (plotH * y) / yMax;
    for (let i = 0; i <= 5; i++) {
      const y = py((yMax * i) / 5);
      out.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#ddd"/>`);
      out.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end" fill="#555">${short((yMax * i) / 5)}</text>`);
    }
    for (let i = 0; i <= xTicks; i++) {
      out.push(`<text x="${px(xStep * i)}" y="${top + plotH + 18}" text-anchor="middle" fill="#555">${short(xStep * i)}</text>`);
    }
    out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`);
    out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`);
    panel.series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const pts = [...s.points].sort((a, b) => a.x - b.x);
      if (pts.length > 0) {
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5"${DASHES[i % DASHES.length]} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
      }
      for (const p of pts) {
        out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${color}"/>`);
        if (p.min !== undefined && p.max !== undefined && p.max > p.min) {
          const cx = px(p.x);
          out.push(`<path d="M${cx.toFixed(1)} ${py(p.min).toFixed(1)}V${py(p.max).toFixed(1)}M${(cx - 5).toFixed(1)} ${py(p.min).toFixed(1)}h10M${(cx - 5).toFixed(1)} ${py(p.max).toFixed(1)}h10" stroke="${color}" fill="none"/>`);
        }
      }
      out.push(`<rect x="${left + plotW + 16}" y="${top + i * 22}" width="14" height="14" fill="${color}"/>`);
      out.push(`<text x="${left + plotW + 36}" y="${top + i * 22 + 12}">${esc(s.name)}</text>`);
    });
    out.push(`<text x="${left + plotW / 2}" y="${top + plotH + 40}" text-anchor="middle" fill="#333">${esc(xLabel)}</text>`);
    out.push(`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(panel.yLabel)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
