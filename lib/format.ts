// Tables for the bench in the formats `--format` offers: an aligned text
// table, a Markdown table, CSV. (JSON is the result object itself.)

export type Format = 'table' | 'md' | 'csv' | 'json';
export const FORMATS: readonly Format[] = ['table', 'md', 'csv', 'json'];

export interface Column {
  title: string;
  /** Text width in the aligned table. */
  width: number;
  /** Left-aligned (labels); numbers are right-aligned. */
  left?: boolean;
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
  const pad = (text: string, c: Column) => (c.left ? text.padEnd(c.width) : text.padStart(c.width));
  const out = [columns.map((c) => pad(c.title, c)).join('  ').trimEnd()];
  for (const r of rows) {
    out.push(Array.isArray(r) ? r.map((cell, i) => pad(cell, columns[i])).join('  ').trimEnd() : `${pad(r.label, columns[0])}  ${r.note}`);
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
