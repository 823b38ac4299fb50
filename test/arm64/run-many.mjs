// Runs many `mesh` command lines in one process, as test/helpers/run.ts runMesh does (oclif's
// run() with this tree's config, output captured), and writes their results as JSON: one
// emulated process instead of one per command line (each costs seconds of CPU under qemu).
//   node run-many.mjs <tree> <cases.json> <out.json>     cases: [{name, args}]
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

const [tree, casesFile, outFile] = process.argv.slice(2)
const load = (spec) => import(pathToFileURL(join(tree, 'node_modules', spec)).href)
const {Config, run} = await load('@oclif/core/lib/index.js')
const {captureOutput} = await load('@oclif/test/lib/index.js')
const config = await Config.load(tree)
const results = []
for (const c of JSON.parse(readFileSync(casesFile, 'utf8'))) {
  process.exitCode = undefined
  const captured = await captureOutput(async () => run(c.args, config), {print: false, stripAnsi: false})
  const exitCode = typeof process.exitCode === 'number' ? process.exitCode : captured.error ? 1 : 0
  if (captured.error && !('oclif' in captured.error)) throw captured.error
  results.push({name: c.name, stdout: captured.stdout, stderr: captured.stderr, exitCode})
}
process.exitCode = 0
writeFileSync(outFile, JSON.stringify(results))
