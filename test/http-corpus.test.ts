// Replays the HTTP fuzzer's seed corpus (fuzz/corpus) through the built-in
// 'http' handler with no socket (binding.httpFrame), so a machine without
// clang still checks what `npm run fuzz` checks, and more split points than
// a socket can produce:
//   - the output is the handler's replies and nothing else; a closing reply
//     is the last, and the handler says close exactly when it sent one;
//   - after every prefix of the input, the 200s sent are at most the
//     complete requests (CRLFCRLFs) in that prefix;
//   - the same bytes whole, one byte per call, or split once at any offset
//     give the same output and the same verdict;
//   - the outcome a seed's name states (statuses, close).
import { describe, expect, it } from 'vitest';
import { binding } from '../lib/binding';
import { loadSeeds, parseReplies, requestEndsByPrefix } from './http-replies';

interface Frame {
  output: Buffer;
  closed: boolean;
  /** Output length after each Handle() call made. */
  ends: number[];
  consumed: number;
}

const frame = (bytes: Buffer, splits?: number[]): Frame => binding.httpFrame(bytes, splits);
const range = (from: number, to: number, step = 1) => {
  const out: number[] = [];
  for (let i = from; i < to; i += step) out.push(i);
  return out;
};

/** Above this size a seed is split once at every 37th offset instead of at every one. */
const EVERY_SPLIT_MAX = 4096;

describe('http handler: fuzz corpus replayed without sockets', () => {
  const seeds = loadSeeds();

  it('the corpus holds the framing cases', () => {
    expect(seeds.length).toBeGreaterThanOrEqual(50);
    expect(seeds.filter((s) => s.statuses !== undefined).length).toBe(seeds.length);
  });

  it('httpFrame refuses bad arguments', () => {
    expect(() => binding.httpFrame('GET' as never)).toThrow(TypeError);
    expect(() => binding.httpFrame(Buffer.from('GET'), [2, 1])).toThrow(RangeError);
    expect(() => binding.httpFrame(Buffer.from('GET'), [3])).toThrow(RangeError);
    expect(() => binding.httpFrame(Buffer.from('GET'), [1.5])).toThrow(RangeError);
  });

  for (const seed of seeds) {
    it(seed.name, () => {
      const { bytes } = seed;
      const whole = frame(bytes);
      const { replies, rest } = parseReplies(whole.output);
      expect(rest.toString('latin1'), 'output that is not a reply').toBe('');
      replies.slice(0, -1).forEach((r) => expect(r.closes, 'a reply after the closing one').toBe(false));
      const last = replies.at(-1);
      expect(whole.closed, 'closed exactly when the last reply closes').toBe(last?.closes ?? false);
      expect(whole.output.length).toBeLessThanOrEqual(8 * bytes.length + 256);

      if (seed.statuses) expect(replies.map((r) => r.status)).toEqual(seed.statuses);
      if (seed.closes !== undefined) expect(whole.closed).toBe(seed.closes);

      // One byte per call: the same output, and never more 200s than complete requests so far.
      const bytewise = frame(bytes, range(1, bytes.length));
      expect(bytewise.closed).toBe(whole.closed);
      expect(bytewise.output.equals(whole.output), 'one byte per call gives other output').toBe(true);
      const requestEnds = requestEndsByPrefix(bytes);
      const answerEnds = replies.filter((r) => r.status === 200).map((r) => r.end);
      let answered = 0;
      bytewise.ends.forEach((outLen, i) => {
        while (answered < answerEnds.length && answerEnds[answered] <= outLen) answered++;
        if (answered > requestEnds[i]) {
          throw new Error(`${answered} responses after byte ${i} but only ${requestEnds[i]} complete requests`);
        }
      });

      // Split once at each offset.
      const step = bytes.length <= EVERY_SPLIT_MAX ? 1 : 37;
      for (const at of range(1, bytes.length, step)) {
        const split = frame(bytes, [at]);
        if (split.closed !== whole.closed || !split.output.equals(whole.output)) {
          throw new Error(`split at ${at}: other output or verdict than the whole input`);
        }
      }
    });
  }
});
