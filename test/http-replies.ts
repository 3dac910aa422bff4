// What the built-in 'http' handler sends, read back for the framing tests:
// its replies (including the bodiless reply to HEAD and 100 Continue), and
// the seed corpus of its fuzzer (fuzz/corpus), whose file names state the
// expected outcome: `<case>__<status>-<status>...[-close]`, e.g.
// `chunked__200-200` or `cl-negative__400-close`; `<case>__` expects no reply.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface HttpResponse {
  statusLine: string;
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
  /** Bytes this response took on the wire. */
  size: number;
  /** Where it ends in the output. */
  end: number;
  /** The reply says `Connection: close`. */
  closes: boolean;
}

const STATUS_LINE = /^HTTP\/1\.1 (\d{3}) [^\r\n]+$/;

/**
 * Parses the complete HTTP/1.1 responses at the start of `data`: a 1xx has no
 * body, any other is framed by Content-Length unless `bodySent(status,
 * bytes)` says its body was not sent (a reply to HEAD). Returns them and the
 * incomplete or unparsable rest.
 */
export function parseHttpResponses(
  data: Buffer,
  bodySent: (status: number, bytes: Buffer) => boolean = () => true,
): { responses: HttpResponse[]; rest: Buffer } {
  const responses: HttpResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) break;
    const lines = data.subarray(at, headEnd).toString('latin1').split('\r\n');
    const statusLine = lines[0];
    const match = STATUS_LINE.exec(statusLine);
    if (!match) break;
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const bodyStart = headEnd + 4;
    let end = bodyStart;
    if (status >= 200) {
      const length = headers['content-length'];
      if (length === undefined || !/^\d+$/.test(length)) break;
      const n = Number(length);
      if (bodySent(status, data.subarray(end, end + n))) {
        if (data.length < end + n) break;
        end += n;
      }
    }
    responses.push({
      statusLine,
      status,
      headers,
      body: Buffer.from(data.subarray(bodyStart, end)),
      size: end - at,
      end,
      closes: headers.connection === 'close',
    });
    at = end;
  }
  return { responses, rest: data.subarray(at) };
}

export type Reply = HttpResponse;

const BODY = Buffer.from('Hello, world\n');

/**
 * The built-in handler's replies at the start of `out`. A 200 carries the
 * fixed 13-byte body unless it answers HEAD (then its Content-Length
 * describes a body it does not send).
 */
export function parseReplies(out: Buffer): { replies: Reply[]; rest: Buffer } {
  const { responses, rest } = parseHttpResponses(out, (status, bytes) => status !== 200 || bytes.equals(BODY));
  return { replies: responses, rest };
}

export const CORPUS_DIR = path.join(__dirname, '..', 'fuzz', 'corpus');

export interface Seed {
  name: string;
  bytes: Buffer;
  /** Expected statuses in order (100 included), when the name states them. */
  statuses?: number[];
  /** Expected: the handler closes the connection. */
  closes?: boolean;
}

export function loadSeeds(): Seed[] {
  return fs
    .readdirSync(CORPUS_DIR)
    .sort()
    .map((name) => {
      const bytes = fs.readFileSync(path.join(CORPUS_DIR, name));
      const sep = name.indexOf('__');
      if (sep < 0) return { name, bytes };
      const parts = name.slice(sep + 2).split('-').filter((p) => p !== '');
      const closes = parts.at(-1) === 'close';
      if (closes) parts.pop();
      return { name, bytes, statuses: parts.map(Number), closes };
    });
}

/**
 * For each byte i, how many CRLFCRLFs (overlapping ones counted) end at or
 * before it. Every complete request ends in one, so after bytes[0, i] the
 * handler may have answered at most ends[i] requests.
 */
export function requestEndsByPrefix(bytes: Buffer): Uint32Array {
  const ends = new Uint32Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i >= 3 && bytes[i - 3] === 13 && bytes[i - 2] === 10 && bytes[i - 1] === 13 && bytes[i] === 10) n++;
    ends[i] = n;
  }
  return ends;
}
