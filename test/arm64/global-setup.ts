// The arm64 suite's tree (vitest.arm64.config.ts): the official Node 24 build for linux-arm64
// (scripts/node-dist.sh, from the npm registry), run under qemu-user emulation, over a copy of
// the compiled dist/ (as the image has it) with the native addons cross-built for aarch64 and an
// oclif manifest; plus the SO_ORIGINAL_DST bridge qemu-user needs (test/arm64/native). Needs
// `npm run build` first, root, and qemu-user, libc6-arm64-cross, libstdc++6-arm64-cross and
// gcc-aarch64-linux-gnu (`.ci/run` installs them). Fails, never skips, without them.
import {execFileSync, spawnSync} from 'node:child_process'
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import type {TestProject} from 'vitest/node'
import {ROOT} from '../helpers/run.js'
import type {Arm64} from './arm64.js'

const SYSROOT = '/usr/aarch64-linux-gnu'
const NEEDS = 'apt-get install -y qemu-user libc6-arm64-cross libstdc++6-arm64-cross gcc-aarch64-linux-gnu'

function need(ok: boolean, what: string): void {
  if (!ok) throw new Error(`test/arm64: ${what} (${NEEDS}; npm run build)`)
}

export default function setup(project: TestProject): () => void {
  need(process.getuid?.() === 0, 'must run as root: it creates network namespaces and iptables rules')
  for (const bin of ['qemu-aarch64', 'aarch64-linux-gnu-gcc', 'cc', 'ip', 'iptables-nft', 'setpriv', 'curl']) {
    need(spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0, `${bin} is missing`)
  }
  need(existsSync(join(SYSROOT, 'lib/libstdc++.so.6')), `${SYSROOT}/lib/libstdc++.so.6 is missing`)
  need(existsSync(join(ROOT, 'dist/proxy/sidecar.cjs')) && existsSync(join(ROOT, 'dist/root-help.txt')), 'dist/ is not built')

  const version = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim()
  const bin = execFileSync('sh', [join(ROOT, 'scripts/node-dist.sh'), version, 'arm64'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim()
  const node = join(bin, 'node')
  const include = join(dirname(bin), 'include/node')

  // The tree: world-readable (the proxies run as uid 2102, as in a pod).
  const tree = mkdtempSync(join(tmpdir(), 'mesh-arm64-'))
  chmodSync(tree, 0o755)
  for (const part of ['dist', 'bin', 'manifests', 'package.json']) cpSync(join(ROOT, part), join(tree, part), {recursive: true})
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'))
  execFileSync('sh', [join(ROOT, 'scripts/build-native.sh')], {
    env: {...process.env, CC: 'aarch64-linux-gnu-gcc', NODE_INCLUDE_DIR: include, NATIVE_OUT_DIR: join(tree, 'native/build'), BUILD_NATIVE_REQUIRED: '1'},
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  execFileSync(process.execPath, [join(ROOT, 'node_modules/oclif/bin/run.js'), 'manifest'], {cwd: tree, env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: '1'}, stdio: 'ignore'})
  const bridge = join(tree, 'orig-dst')
  mkdirSync(bridge)
  execFileSync('aarch64-linux-gnu-gcc', ['-O2', '-Wall', '-Wextra', '-fPIC', '-shared', '-o', join(bridge, 'orig-dst-shim.so'), join(ROOT, 'test/arm64/native/orig-dst-shim.c'), '-ldl'])
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', join(bridge, 'orig-dst-helper'), join(ROOT, 'test/arm64/native/orig-dst-helper.c')])

  const arm64: Arm64 = {tree, node, sysroot: SYSROOT, shim: join(bridge, 'orig-dst-shim.so'), helper: join(bridge, 'orig-dst-helper')}
  project.provide('arm64', arm64)
  return () => rmSync(tree, {recursive: true, force: true})
}
