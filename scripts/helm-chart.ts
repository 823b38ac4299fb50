// Writes the Helm chart (charts/mesh) from manifests/ and src/install/schema.ts, so it cannot
// drift from `mesh install`: `npm run helm-chart` rewrites it; test/install/helm.test.ts fails
// when the committed chart is out of date.
import {mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {generateChart} from '../src/install/helm.js'

const DIR = fileURLToPath(new URL('../charts/mesh/', import.meta.url))

const files = await generateChart()
rmSync(path.join(DIR, 'templates'), {recursive: true, force: true})
for (const [name, content] of files) {
  mkdirSync(path.dirname(path.join(DIR, name)), {recursive: true})
  writeFileSync(path.join(DIR, name), content)
}
process.stderr.write(`charts/mesh: ${files.size} files written (${readdirSync(path.join(DIR, 'templates')).length} templates)\n`)
