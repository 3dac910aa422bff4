// The order vitest starts test files in. With durations from an earlier run
// (node_modules/.vite/vitest), vitest's own: the longest first. Without them
// (a fresh clone: CI) vitest starts the largest files first, which puts the
// conformance shards last (a few lines each, yet most of the suites' time):
// their tail then ran alone on one core for over a minute. Here they go
// first among the files vitest has no duration for.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { BaseSequencer, type TestSpecification } from 'vitest/node';

const RUNS_THE_SHARED_SUITE = /from '\.\/conformance'/;

export default class ShardsFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const known = (f: TestSpecification) =>
      Boolean(this.ctx.cache.getFileTestResults(`${f.project.name}:${path.relative(this.ctx.config.root, f.moduleId)}`));
    const shard = (f: TestSpecification) => !known(f) && RUNS_THE_SHARED_SUITE.test(fs.readFileSync(f.moduleId, 'utf8'));
    // Stable: the project order vitest chose (suites, then measuring) holds,
    // since every shard is in the first project.
    return [...sorted.filter(shard), ...sorted.filter((f) => !shard(f))];
  }
}
