// Tables for the bench in the formats `--format` offers: an aligned text
// table, a Markdown table, CSV. (JSON is the result object itself.)

export type Format = 'table' | 'md' | 'csv' | 'json';
export const FORMATS: readonly Format[] = ['table', 'md', 'csv', 'json'];

export interface Column {
  title: string;
  /** Least text width in the aligned table; a wider title or cell widens the column. */
  width: number;
  /** Left-aligned (labels); numbers are right-aligned. */
  left?: boolean;
}

/** Columns by title, each as wide as its widest cell; the first `labels` are left-aligned labels. */
export function columns(titles: string[], labels = 1): Column[] {
  return titles.map((title, i) => ({ title, width: 0, left: i < labels }));
}

/** A row of display cells, or a label with a note that spans the rest (a skipped target). */
export type GridRow = string[] | { label: string; note: string };

/** Thousands separators, fixed digits; '-' for no value. */
export function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The rows as an aligned text table or a Markdown table. */
export function grid(format: 'table' | 'md', columns: Column[], rows: GridRow[]): string {
  if (format === 'md') {
    const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    const out = [line(columns.map((c) => c.title)), `|${columns.map((c) => (c.left ? ' :--- ' : ' ---: ')).join('|')}|`];
    for (const r of rows) {
      out.push(Array.isArray(r) ? line(r) : line([r.label, r.note, ...columns.slice(2).map(() => '')]));
    }
    return out.join('\n');
  }
  // Every column as wide as its widest cell, so the rows line up whatever they hold.
  const widths = columns.map((c, i) =>
    Math.max(c.width, c.title.length, ...rows.map((r) => (Array.isArray(r) ? (r[i] ?? '') : i === 0 ? r.label : '').length)),
  );
  const pad = (text: string, i: number) => (columns[i].left ? text.padEnd(widths[i]) : text.padStart(widths[i]));
  const out = [columns.map((c, i) => pad(c.title, i)).join('  ').trimEnd()];
  for (const r of rows) {
    out.push(Array.isArray(r) ? r.map((cell, i) => pad(cell, i)).join('  ').trimEnd() : `${pad(r.label, 0)}  ${r.note}`);
  }
  return out.join('\n');
}

function csvCell(value: string | number | undefined): string {
  if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 CSV: a header line and one line per record, raw numbers. */
export function csv(header: string[], records: (string | number | undefined)[][]): string {
  return [header, ...records].map((r) => r.map(csvCell).join(',')).join('\n');
}

/** A number rounded to `digits` for CSV, undefined kept. */
export function round(n: number | undefined, digits: number): number | undefined {
  return n === undefined || !Number.isFinite(n) ? undefined : Number(n.toFixed(digits));
}

/**
 * Points laid out as a table of row keys by column keys (model by idle
 * count, clients by model...): each key once, in the order first seen, or
 * ascending where `sorted` says so (numbers); `at` finds the point of a cell.
 */
export function pivot<P, R, C>(
  points: readonly P[],
  rowOf: (p: P) => R,
  colOf: (p: P) => C,
  sorted: { rows?: boolean; cols?: boolean } = {},
): { rows: R[]; cols: C[]; at(row: R, col: C): P | undefined; cells(rowText: (row: R) => string, cell: (p: P, row: R) => string): string[][] } {
  const keys = <K>(of: (p: P) => K, sort?: boolean) => {
    const out = [...new Set(points.map(of))];
    return sort ? out.sort((a, b) => Number(a) - Number(b)) : out;
  };
  const rows = keys(rowOf, sorted.rows);
  const cols = keys(colOf, sorted.cols);
  const at = (row: R, col: C) => points.find((p) => rowOf(p) === row && colOf(p) === col);
  return {
    rows,
    cols,
    at,
    /** One grid row per row key: its text, then a cell per column ('-' where there is no point). */
    cells: (rowText, cell) =>
      rows.map((row) => [
        rowText(row),
        ...cols.map((col) => {
          const p = at(row, col);
          return p === undefined ? '-' : cell(p, row);
        }),
      ]),
  };
}
