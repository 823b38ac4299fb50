// The arm64 suite's shared pieces: how to run the arm64 node (qemu-user, the tree built by
// global-setup.ts), and the real `mesh` binary on it and on this machine's node.
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {inject} from 'vitest'
import {ROOT, type RunResult} from '../helpers/run.js'

export interface Arm64 {
  /** dist/, bin/, manifests/, package.json, oclif.manifest.json, native/build/ (aarch64), node_modules -> the repo's. */
  tree: string
  /** The official Node 24 linux-arm64 binary. */
  node: string
  /** The aarch64 libraries qemu-user loads it with. */
  sysroot: string
  /** The SO_ORIGINAL_DST bridge (test/arm64/native): preloaded into the emulated node, and its native helper. */
  shim: string
  helper: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    arm64: Arm64
  }
}

export const arm64 = (): Arm64 => inject('arm64')

/**
 * argv running the arm64 node under qemu-user with `args`. `guestEnv` is set in the emulated
 * process only (qemu's -E: LD_PRELOAD must not reach qemu's own loader).
 */
export function arm64Argv(args: string[], guestEnv: Record<string, string> = {}): string[] {
  const a = arm64()
  return ['qemu-aarch64', '-L', a.sysroot, ...Object.entries(guestEnv).flatMap(([k, v]) => ['-E', `${k}=${v}`]), a.node, ...args]
}

/** The guest env that routes SO_ORIGINAL_DST through the native helper listening on `socket`. */
export function origDstBridge(socket: string): Record<string, string> {
  return {LD_PRELOAD: arm64().shim, MESH_ORIG_DST_HELPER: socket}
}

function run(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {cwd: ROOT, env: {...process.env, NO_COLOR: '1', ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({stdout, stderr, exitCode: code ?? -1})
    })
  })
}

/** `mesh <args>` as the real binary on the emulated arm64 node (cwd: the repository). */
export function meshArm64(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(arm64Argv([join(arm64().tree, 'bin/run.js'), ...args]), {NODE_COMPILE_CACHE: join(arm64().tree, '.compile-cache'), ...env}, 180_000)
}

/** `mesh <args>` as the real binary on this machine's node, from the same compiled dist/. */
export function meshX64(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run([process.execPath, join(ROOT, 'bin/run.js'), ...args], env, 60_000)
}
