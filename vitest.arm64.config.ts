import {defineConfig} from 'vitest/config'

// The arm64 suite (test/arm64): the official linux-arm64 Node 24 under qemu-user emulation,
// with the native addons cross-built for aarch64 (global setup). One file at a time: emulated
// processes are CPU-heavy. Needs root (network namespaces, iptables) and `npm run build` first.
export default defineConfig({
  test: {
    include: ['test/arm64/**/*.test.ts'],
    globalSetup: ['test/arm64/global-setup.ts'],
    disableConsoleIntercept: true,
    testTimeout: 300_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
})
