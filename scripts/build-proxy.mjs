// Builds the sidecar's bundle, dist/proxy/sidecar.cjs: tsc's dist/proxy/main.js and every module
// of ours it reaches, one CommonJS file, whitespace and syntax minified (names kept, so stacks stay
// readable; sidecar.cjs.map maps them back to src/ with `node --enable-source-maps`). `mesh proxy`
// as pods run it loads this file (bin/fast.js), not the ~150 modules it is made of: each ES module
// costs the process its source text with comments, a module record, a namespace and the loader's
// bookkeeping, and Node's ES-module facade of a builtin reads every export (node:tls's
// rootCertificates getter alone parses the ~150 bundled root certificates into strings); the bundle
// takes ~1.5 MB off each proxy's private memory (docs/architecture/proxy.md, Issue 25, third pass).
// Modules the proxy loads on first use (`import()`: HTTP/2, identity, the destination client, the
// admin and tap servers) stay lazy: esbuild runs their top-level code, and requires their builtins,
// only when the import runs. `ws` stays a package of node_modules (the destination client and the
// tap server share one copy); re2js is loaded where it is used (createRequire).
//   node scripts/build-proxy.mjs [dist dir, default dist]
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {build} from 'esbuild'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'))
const outfile = path.join(dist, 'proxy/sidecar.cjs')
await build({
  entryPoints: [path.join(dist, 'proxy/main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  // The oldest Node the package supports (package.json engines): nothing is down-levelled.
  target: 'node22.19',
  minifyWhitespace: true,
  minifySyntax: true,
  // A CommonJS file has no import.meta: the modules that read it (package-root.ts's callers,
  // createRequire) get the bundle's own URL.
  define: {'import.meta.url': '__mesh_bundle_url'},
  banner: {js: 'var __mesh_bundle_url = require("node:url").pathToFileURL(__filename).href;'},
  external: ['ws'],
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  logLevel: 'warning',
})
// esbuild bundles an `import()` of a literal path and leaves any other to Node at run time, where
// it resolves from dist/proxy/sidecar.cjs, not from the module that wrote it: a module of ours
// imported that way is silently missing (test/proxy-init/sidecar-redirect.test.ts). None may remain.
const computed = readFileSync(outfile, 'utf8').match(/\bimport\((?!["'`])[^)]{0,80}\)/g)
if (computed) {
  console.error(`scripts/build-proxy.mjs: ${outfile} imports by computed specifier (${computed.join(', ')}): esbuild cannot include what it names; import a literal path instead`)
  process.exit(1)
}
