// Lint: typescript-eslint with type information, for the mistakes that bite async code.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bin/**', 'native/build/**', 'test/cluster/k8s/**', 'test/cluster/etcd/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: {
        // The dashboard's page is browser code with its own compiler settings (DOM, JSX).
        project: ['./tsconfig.check.json', './src/dashboard/web/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-expressions': 'error',
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The sidecar takes node:http's values from src/proxy/core/node-http.ts: on Node 24 an ESM import
    // of node:http loads undici, http2 and tls into every proxy (issue 21).
    files: ['src/proxy/**/*.ts'],
    ignores: ['src/proxy/core/node-http.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {paths: ['node:http', 'http'].map((name) => ({
        name, allowTypeImports: true,
        message: 'import node:http values from src/proxy/core/node-http.ts (an ESM import of node:http loads undici on Node 24)',
      }))}],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {globals: {process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly'}},
  },
)
