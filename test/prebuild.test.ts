// What the addons ask of the machine that loads them, read by
// scripts/check-abi.sh from their dynamic symbol tables. Every build, the
// source build with the system's toolchain too, exports N-API's module
// registration alone (hidden visibility). The prebuild for this machine's
// architecture (npm run prebuildify, against the Debian 11 sysroot of
// scripts/sysroot.sh) asks for glibc 2.28 at most and carries its own
// libstdc++; under Debian 11's glibc 2.31 and GCC 10's libstdc++ (the
// sysroot's own loader and libraries running this very node) it loads and
// serves. Where no prebuild or sysroot was made, those tests do not run,
// except in CI, which builds both first (.ci/run) and fails without them.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');
const RELEASE = path.join(ROOT, 'build', 'Release', 'netmodels.node');
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x64';
const PREBUILD = path.join(ROOT, 'prebuilds', `linux-${ARCH}`, 'netmodels.glibc.node');
const SYSROOT = path.join(ROOT, 'build-sysroot', `bullseye-${ARCH}`);
const IN_CI = !!process.env.CI;

function checkAbi(...args: string[]) {
  return spawnSync('sh', [path.join(ROOT, 'scripts', 'check-abi.sh'), ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** Dotted versions compared numerically: 2.10 is after 2.9. */
function after(a: string, b: string): boolean {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  }
  return false;
}

describe('scripts/check-abi.sh', () => {
  it('the addon the tests load exports N-API’s module registration alone', () => {
    const r = checkAbi('--exports', RELEASE);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('exports the N-API registration alone');
    expect(r.status).toBe(0);
  });

  it('a glibc ceiling below what the addon needs fails, naming each newer version (numerically: 2.10 after 2.9) and its symbols', () => {
    const r = checkAbi('--glibc', '2.9', RELEASE);
    expect(r.status).toBe(1);
    const over = [...r.stderr.matchAll(/needs GLIBC_([0-9.]+), above 2\.9: (\S+)/g)].map((m) => m[1]);
    // x64's oldest glibc symbols are GLIBC_2.2.5, arm64's GLIBC_2.17: the
    // addon needs some 2.1x or 2.2x, above 2.9 as a number, below it as text.
    expect(over.some((version) => /^2\.[12]\d(\.|$)/.test(version))).toBe(true);
    for (const version of over) expect(after(version, '2.9')).toBe(true);
    expect(r.stderr).toMatch(/the prebuilds must load on glibc 2\.9/);
  });

  it('refuses a ceiling that is not a version', () => {
    const r = checkAbi('--glibc', 'new', RELEASE);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--glibc wants a version like 2.28, not 'new'");
  });
});

describe.runIf(fs.existsSync(PREBUILD) || IN_CI)(`the ${ARCH} prebuild`, () => {
  it('asks for glibc 2.28 at most, links no libstdc++ or libgcc_s and exports the registration alone', () => {
    const r = checkAbi(PREBUILD);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/glibc 2\.\d+ at most \(ceiling 2\.28\), no libstdc\+\+ or libgcc_s, exports the N-API registration alone/);
    expect(r.status).toBe(0);
  });
});

describe.runIf((fs.existsSync(PREBUILD) && fs.existsSync(SYSROOT)) || IN_CI)(`the ${ARCH} prebuild under Debian 11's glibc`, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-prebuild-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('loads and serves an epoll round trip in a node run by glibc 2.31’s loader and GCC 10’s libstdc++', async () => {
    // A package-like directory holding the prebuild alone: node-gyp-build
    // finds no build/Release there and takes prebuilds/linux-ARCH.
    fs.mkdirSync(path.join(tmp, 'prebuilds', `linux-${ARCH}`), { recursive: true });
    fs.copyFileSync(PREBUILD, path.join(tmp, 'prebuilds', `linux-${ARCH}`, 'netmodels.glibc.node'));
    const triple = ARCH === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
    const loader = path.join(SYSROOT, 'lib', triple, ARCH === 'arm64' ? 'ld-linux-aarch64.so.1' : 'ld-linux-x86-64.so.2');
    const libs = [path.join(SYSROOT, 'lib', triple), path.join(SYSROOT, 'usr', 'lib', triple)].join(':');
    const script = `
      const net = require('node:net');
      const { createServer } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
      (async () => {
        const server = createServer('epoll', { port: 0 });
        const { port } = await server.start();
        const reply = await new Promise((resolve, reject) => {
          let got = '';
          const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write('under glibc 2.31\\n'));
          socket.setEncoding('latin1');
          socket.on('data', (d) => { got += d; if (got.endsWith('\\n')) { socket.end(); resolve(got); } });
          socket.on('error', reject);
        });
        await server.stop();
        console.log(JSON.stringify({ glibc: process.report.getReport().header.glibcVersionRuntime, reply }));
      })().catch((err) => { console.error(err); process.exitCode = 1; });
    `;
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        loader,
        ['--library-path', libs, process.execPath, '-e', script],
        // No LD_PRELOAD: a library built for this machine's glibc would not load there.
        { env: { ...process.env, NETMODELS_BINDING_DIR: tmp, LD_PRELOAD: undefined }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ glibc: '2.31', reply: 'UNDER GLIBC 2.31\n' });
    expect(r.code).toBe(0);
  });
});
