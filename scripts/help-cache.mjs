// Renders the root help with oclif (fast path off, 80 columns), plain and styled, into
// root-help.txt and root-help.ansi.txt, which bin/fast.js prints without loading oclif.
// `npm run build` runs it on the compiled binary into dist/, so the cache is never staler
// than dist/. Usage: node scripts/help-cache.mjs [bin (bin/run.js)] [out dir (dist)]
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
const bin = resolve(root, process.argv[2] ?? 'bin/run.js')
const out = resolve(root, process.argv[3] ?? 'dist')
const env = {...process.env}
delete env.NO_COLOR
delete env.FORCE_COLOR
function render(extra) {
  const help = execFileSync(process.execPath, [bin, '--help'], {
    env: {...env, MESH_NO_FAST_PATH: '1', OCLIF_COLUMNS: '80', ...extra},
    encoding: 'utf8',
  })
  if (!help.includes('COMMANDS')) throw new Error(`scripts/help-cache: ${bin} --help rendered no command list; is dist/ complete?`)
  return help
}
writeFileSync(join(out, 'root-help.txt'), render({NO_COLOR: '1'}))
writeFileSync(join(out, 'root-help.ansi.txt'), render({FORCE_COLOR: '1'}))
