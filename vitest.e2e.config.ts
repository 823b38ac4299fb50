import {defineConfig} from 'vitest/config'

// The end-to-end suite (test/e2e): the real API server and etcd (the cluster's global setup),
// pods realized as network namespaces by test/e2e/runner, real iptables interception. Needs
// root. One file at a time: the pod runner owns the bridge meshbr0.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/helpers/build-setup.ts', 'test/cluster/global-setup.ts'],
    disableConsoleIntercept: true,
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
})
