// lib/'s import graph has no cycle at run time: a module never imports,
// directly or through others, a module that imports it back. `import type`
// and `export type` are erased by tsc and left out.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const LIB = path.join(__dirname, '..', 'lib');

/** Every .ts file under `dir`, absolute. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

// `import ... from './x'`, `export ... from './x'`, `import './x'`,
// `import('./x')`, `require('./x')`; group 1 is 'type ' for a type-only one.
const SPECIFIER = /\b(?:import|export)\s+(type\s+)?(?:[^'";]*?\bfrom\s*)?['"](\.{1,2}\/[^'"]*)['"]|\b(?:import|require)\s*\(\s*['"](\.{1,2}\/[^'"]*)['"]/g;

/**
 * The lib/ files a source imports at run time (relative specifiers resolved
 * as tsc does: x.ts, then x/index.ts).
 */
function importsOf(file: string, text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(SPECIFIER)) {
    if (m[1]) continue;
    const base = path.resolve(path.dirname(file), (m[2] ?? m[3]).replace(/\.js$/, ''));
    const found = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
    if (!found) throw new Error(`${path.relative(LIB, file)}: cannot resolve '${m[2] ?? m[3]}'`);
    out.add(found);
  }
  return [...out];
}

/** One cycle of the graph as a path a -> b -> ... -> a, or null if there is none. */
function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe("lib/'s import graph", () => {
  it('finds a cycle where there is one, however long, and none in a tree', () => {
    const g = (edges: Record<string, string[]>) => new Map(Object.entries(edges));
    expect(findCycle(g({ a: ['b'], b: ['c'], c: ['a'] }))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(g({ a: ['a'] }))).toEqual(['a', 'a']);
    expect(findCycle(g({ a: ['b', 'c'], b: ['d'], c: ['d'], d: [] }))).toBeNull();
  });

  it('reads every kind of relative import and leaves out the type-only ones', () => {
    const file = path.join(LIB, 'bench', 'rr.ts');
    const text = [
      "import { a } from './proc';",
      "import type { B } from '../loadgen';",
      "import {\n  e,\n  type F,\n} from '../format';",
      "export type { G } from './targets';",
      "import './charts';",
      "const h = await import('./cores');",
      "export { c } from './rounds';",
      "const d = require('./svg');",
      "import * as fs from 'node:fs';",
    ].join('\n');
    const rel = importsOf(file, text).map((f) => path.relative(LIB, f));
    expect(rel.sort()).toEqual(['bench/charts.ts', 'bench/cores.ts', 'bench/proc.ts', 'bench/rounds.ts', 'bench/svg.ts', 'format.ts']);
  });

  const graph = () => {
    const g = new Map<string, string[]>();
    for (const file of sources(LIB)) g.set(file, importsOf(file, fs.readFileSync(file, 'utf8')));
    expect(g.size).toBeGreaterThan(40);
    return g;
  };

  it('has no cycle', () => {
    const cycle = findCycle(graph());
    expect(cycle?.map((f) => path.relative(LIB, f)).join(' -> ') ?? null).toBeNull();
  });

  it("the bench's imports go one way: cli -> commands -> bench/experiments -> bench -> the library", () => {
    // Each place may import the ones after it, never one before it.
    const order = ['cli.ts', 'commands/', 'bench/experiments/', 'bench/'];
    const rank = (file: string) => {
      const rel = path.relative(LIB, file);
      const i = order.findIndex((place) => rel === place || (place.endsWith('/') && rel.startsWith(place)));
      return i === -1 ? order.length : i;
    };
    const back: string[] = [];
    for (const [file, imports] of graph()) {
      for (const to of imports) if (rank(to) < rank(file)) back.push(`${path.relative(LIB, file)} -> ${path.relative(LIB, to)}`);
    }
    expect(back).toEqual([]);
  });
});
