// HTTP/1.1 request framing of the built-in 'http' handler (RFC 9112), over
// real sockets, for every model config: where a request ends must not
// depend on the model, on how the bytes are split into reads, or on input a
// proxy or an attacker sends (request smuggling: more responses than
// requests). Invalid framing gets one error reply and the connection closes.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../lib/index';
import { CONFIGS } from './configs';
import type { ConformanceConfig } from './conformance';
import { Client } from './client';
import { ServerLike, cleanup, trackServer, waitFor, waitQuiescent } from './helpers';
import { loadSeeds, parseReplies } from './http-replies';
import { binding } from '../lib/binding';

const GET = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n';

function post(headers: string[], body = ''): string {
  return `POST /up HTTP/1.1\r\nHost: a\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}

function chunk(data: string, ext = ''): string {
  return `${Buffer.byteLength(data, 'latin1').toString(16)}${ext}\r\n${data}\r\n`;
}

// A chunked body with extensions (a quoted one with escapes), a chunk whose
// data is a whole request and one holding CRLFCRLF, a last-chunk with an
// extension, and trailer fields, one of them a Content-Length to ignore.
const CHUNKED =
  post(
    ['Transfer-Encoding: chunked'],
    chunk('Wiki', ';name=value;flag') +
      chunk(SMUGGLED, ' ; q = "a \\"b\\" c" ;x') +
      chunk(' in\r\n\r\nchunks.') +
      '0;last=1\r\nExpires: never\r\nContent-Length: 5\r\n\r\n',
  ) + GET;

function httpConfig(config: ConformanceConfig): void {
  describe(`http framing: ${config.label}`, () => {
    afterEach(cleanup);

    async function start(): Promise<{ server: ServerLike; port: number }> {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const options = { ...config.options, handler: 'http' } as any;
      const server = trackServer(createServer(config.model as any, options) as unknown as ServerLike);
      const { port } = await server.start();
      return { server, port };
    }

    /**
     * Sends `request`; with `end`, half-closes after it (for requests that
     * keep the connection), otherwise only the server's close ends the read.
     */
    async function exchange(port: number, request: string | Buffer, end: boolean) {
      const client = await Client.connect(port);
      if (end) client.end(request);
      else client.write(request);
      const all = await client.readToEnd(15_000);
      expect(client.error, 'the connection must end with EOF, not a reset').toBeNull();
      const { replies, rest } = parseReplies(all);
      expect(rest.toString('latin1'), 'bytes that are not a whole reply').toBe('');
      return { replies, statuses: replies.map((r) => r.status), all };
    }

    /** One 400 with Connection: close, then the server closes; nothing behind it is answered. */
    async function expectRefused(port: number, request: string, status = 400, what = request) {
      const { replies } = await exchange(port, request, false);
      expect(replies.map((r) => r.status), what).toEqual([status]);
      expect(replies[0].closes, what).toBe(true);
    }

    it('a chunked body with extensions and trailers, one byte per read, is one request', async () => {
      const { server, port } = await start();
      const client = await Client.connect(port);
      client.socket.setNoDelay(true);
      // Each byte goes out only after the server has read the one before, so
      // every byte boundary is a boundary between reads.
      for (let i = 0; i < CHUNKED.length; i++) {
        client.write(CHUNKED[i]);
        await waitFor(() => server.stats().bytesIn === i + 1, `byte ${i} read`, 10_000, undefined, 1);
      }
      await client.waitForData((d) => parseReplies(d).replies.length >= 2, 'two replies');
      client.end();
      const { replies, rest } = parseReplies(await client.readToEnd());
      expect(replies.map((r) => r.status)).toEqual([200, 200]);
      expect(replies.every((r) => !r.closes)).toBe(true);
      expect(rest.length).toBe(0);
      await waitQuiescent(server, 1, 10_000);
    });

    it('the same chunked request split once at every offset gets one reply each time', async () => {
      // One connection, the request sent again and again, cut at offset k
      // the k-th time; the second part leaves only once the first is read.
      const { server, port } = await start();
      const client = await Client.connect(port);
      client.socket.setNoDelay(true);
      const request = CHUNKED.slice(0, CHUNKED.length - GET.length);
      let sent = 0;
      for (let k = 1; k < request.length; k++) {
        client.write(request.slice(0, k));
        sent += k;
        const first = sent;
        await waitFor(() => server.stats().bytesIn === first, `the first ${k} bytes read`, 10_000, undefined, 1);
        client.write(request.slice(k));
        sent += request.length - k;
        await client.waitForData((d) => parseReplies(d).replies.length >= k, `reply ${k}`);
      }
      client.end();
      const { replies, rest } = parseReplies(await client.readToEnd());
      expect(replies.length).toBe(request.length - 1);
      expect(replies.every((r) => r.status === 200 && !r.closes)).toBe(true);
      expect(rest.length).toBe(0);
    });

    it('a chunk whose data is a request line is no request of its own', async () => {
      const { port } = await start();
      const body = chunk(SMUGGLED) + '0\r\n\r\n';
      expect((await exchange(port, post(['Transfer-Encoding: chunked'], body) + GET, true)).statuses).toEqual([
        200, 200,
      ]);
      // The same with Content-Length framing.
      const cl = post([`Content-Length: ${SMUGGLED.length}`], SMUGGLED) + GET;
      expect((await exchange(port, cl, true)).statuses).toEqual([200, 200]);
    });

    it('each invalid Content-Length is one 400 and a close', async () => {
      const { port } = await start();
      const forms = ['-5', '1,5', '5, 5', '0x1a', '+5', '5.0', '1 5', '', '5;', '12345678901234567890123',
        '9223372036854775808', '\u00a05'];
      for (const value of forms) {
        await expectRefused(port, post([`Content-Length: ${value}`], 'hello') + SMUGGLED, 400, `Content-Length: '${value}'`);
      }
      // Two that disagree.
      await expectRefused(port, post(['Content-Length: 5', 'Content-Length: 6'], 'hello!') + SMUGGLED);
    });

    it('valid Content-Length forms frame the body exactly', async () => {
      // The body is itself a request: read as anything but its length, it
      // would be answered.
      const { port } = await start();
      const n = SMUGGLED.length;
      const forms = [
        [`Content-Length:${' '.repeat(40)}${n}\t `], // read past the padding, not as 0
        [`Content-Length: 00000000000000000000000${n}`],
        [`Content-Length: ${n}`, `content-length: ${n}`], // repeated with the same value
      ];
      for (const headers of forms) {
        const { statuses } = await exchange(port, post(headers, SMUGGLED) + GET, true);
        expect(statuses, headers.join(' | ')).toEqual([200, 200]);
      }
    });

    it('Transfer-Encoding other than a lone chunked, or beside Content-Length, is one 400 and a close', async () => {
      const { port } = await start();
      const cases: string[][] = [
        ['Transfer-Encoding: chunked', 'Content-Length: 5'],
        ['Content-Length: 5', 'Transfer-Encoding: chunked'],
        ['Transfer-Encoding: gzip'],
        ['Transfer-Encoding: gzip, chunked'],
        ['Transfer-Encoding: chunked, gzip'],
        ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'],
        ['Transfer-Encoding: chunked;q=1'],
        ['Transfer-Encoding: '],
        ['Transfer-Encoding: xchunked'],
      ];
      for (const headers of cases) {
        await expectRefused(port, post(headers, '0\r\n\r\n') + SMUGGLED, 400, headers.join(' | '));
      }
      // HTTP/1.0 has no Transfer-Encoding.
      await expectRefused(port, 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + SMUGGLED);
      // Coding names are case-insensitive.
      const upper = post(['transfer-encoding: CHUNKED'], '0\r\n\r\n') + GET;
      expect((await exchange(port, upper, true)).statuses).toEqual([200, 200]);
    });

    it('malformed chunks are one 400 and a close', async () => {
      const { port } = await start();
      const bodies = ['5\r\nhello!\r\n0\r\n\r\n', '5\nhello\n0\n\n', '5 \r\nhello\r\n0\r\n\r\n', '5;\r\nhello\r\n',
        'x\r\n', '10000000000000000\r\n', '5;a="b\r\nhello\r\n'];
      for (const body of bodies) {
        await expectRefused(port, post(['Transfer-Encoding: chunked'], body) + SMUGGLED, 400, JSON.stringify(body));
      }
    });

    it('Connection is a list of tokens, matched whole and case-insensitively', async () => {
      const { port } = await start();
      const cases: Array<[string, string, boolean]> = [
        ['HTTP/1.1', 'Connection: upgrade-notclose', false],
        ['HTTP/1.1', 'Connection: closed', false],
        ['HTTP/1.1', 'Connection: clo se', false],
        ['HTTP/1.1', 'Connection: keep-alive, CLOSE', true],
        ['HTTP/1.1', 'Connection: foo ,\t cLoSe\t, bar', true],
        ['HTTP/1.0', 'Connection: Keep-Alive, foo', false],
        ['HTTP/1.0', 'Connection: foo,keep-alive', false],
        ['HTTP/1.0', 'Connection: notkeep-alive', true],
        ['HTTP/1.0', 'Connection: keep-alive, close', true],
      ];
      for (const [version, header, closes] of cases) {
        const request = `GET / ${version}\r\nHost: a\r\n${header}\r\n\r\n` + GET;
        const { replies } = await exchange(port, request, !closes);
        expect(replies.map((r) => r.status), header).toEqual(closes ? [200] : [200, 200]);
        expect(replies[0].closes, header).toBe(closes);
      }
    });

    it('limits: request line (414), header section and field count (431)', async () => {
      const { port } = await start();
      await expectRefused(port, `GET /${'a'.repeat(9000)} HTTP/1.1\r\n\r\n` + GET, 414, 'a 9 KiB request line');
      await expectRefused(port, `GET / HTTP/1.1\r\nX-Big: ${'b'.repeat(17_000)}\r\n\r\n` + GET, 431, '17 KB of fields');
      const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: 1\r\n`).join('');
      await expectRefused(port, `GET / HTTP/1.1\r\n${fields(101)}\r\n` + GET, 431, '101 fields');
      // At the limits, still served.
      const atLimits = `GET /${'a'.repeat(8192 - 14)} HTTP/1.1\r\n${fields(100)}\r\n` + GET;
      expect((await exchange(port, atLimits, true)).statuses).toEqual([200, 200]);
    });

    it('replays every seed of the fuzz corpus with the same result as the handler without sockets', async () => {
      const { server, port } = await start();
      const seeds = loadSeeds();
      for (const seed of seeds) {
        const expected = binding.httpFrame(seed.bytes) as { output: Buffer; closed: boolean };
        const { all } = await exchange(port, seed.bytes, true);
        if (!all.equals(expected.output)) {
          throw new Error(`${seed.name}: got ${JSON.stringify(all.toString('latin1'))}`);
        }
      }
      await waitQuiescent(server, seeds.length, 15_000);
    });
  });
}

for (const config of CONFIGS) httpConfig(config);
