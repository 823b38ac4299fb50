import {defineConfig} from 'vitest/config'

// Unit and local tests: no Kubernetes needed. The suites that need the real test cluster
// live in test/integration and run with vitest.cluster.config.ts (npm run test:cluster); the
// arm64 suite (test/arm64) with vitest.arm64.config.ts (npm run test:arm64).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/integration/**', 'test/e2e/**', 'test/arm64/**', '**/node_modules/**'],
    // Builds dist/ first when it is missing or older than the sources (suites run bin/run.js).
    globalSetup: ['test/helpers/build-setup.ts'],
    // oclif writes through console.log; vitest would swallow it otherwise.
    disableConsoleIntercept: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
