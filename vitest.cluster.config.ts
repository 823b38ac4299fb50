import {defineConfig} from 'vitest/config'

// Suites against a real kube-apiserver and etcd (built by test/cluster/build, started by the
// global setup on 127.0.0.1). One cluster serves every file; files run one at a time.
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    globalSetup: ['test/helpers/build-setup.ts', 'test/cluster/global-setup.ts'],
    disableConsoleIntercept: true,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
})
