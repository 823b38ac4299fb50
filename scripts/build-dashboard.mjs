// Builds the dashboard's page into dist/dashboard/web: one JavaScript bundle (the page, preact,
// dagre) and its CSS, minified by esbuild, and index.html; `mesh dashboard` serves them from
// the package, so nothing comes from the internet at run time.
import {copyFileSync, mkdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {build} from 'esbuild'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const src = path.join(root, 'src/dashboard/web')
const out = path.join(root, 'dist/dashboard/web')
mkdirSync(out, {recursive: true})
await build({
  entryPoints: {app: path.join(src, 'main.tsx')},
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  outdir: out,
  logLevel: 'warning',
})
await build({entryPoints: {app: path.join(src, 'app.css')}, bundle: true, minify: true, outdir: out, logLevel: 'warning'})
copyFileSync(path.join(src, 'index.html'), path.join(out, 'index.html'))
