// The fast path of the installed binary: `mesh version --client` (its plain forms), `mesh --version` and
// the root help (`mesh`, `--help`, `-h`, `help`) answer without loading oclif, whose import and command discovery cost ~200 ms
// of a ~250 ms start. Anything else, and any argument this file does not know, goes to oclif,
// which parses, validates and reports errors as usual. MESH_NO_FAST_PATH=1 turns it off (the
// tests compare both paths byte for byte).
import {existsSync, readFileSync} from 'node:fs'

const ROOT = new URL('../', import.meta.url)
const DIST = new URL('dist/', ROOT)

/**
 * Answers argv and returns true, or returns false to let oclif run. `io` is for tests: where
 * output goes, the environment, and the directory holding the rendered help.
 */
export function fastPath(argv, io = {}) {
  const {stdout = process.stdout, env = process.env, helpDir = DIST} = io
  if (env.MESH_NO_FAST_PATH === '1') return false
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help'))) {
    const help = rootHelp(stdout, env, helpDir)
    if (help === undefined) return false
    stdout.write(help)
    return true
  }
  if (argv.length === 1 && argv[0] === '--version') {
    stdout.write(`mesh/${version()} ${process.platform}-${process.arch} node-${process.version}\n`)
    return true
  }
  if (argv[0] === 'version') return versionCommand(argv.slice(1), stdout)
  return false
}

/**
 * `mesh proxy` with no arguments (the injected sidecar's command: every setting comes from
 * MESH_PROXY_* variables) runs the proxy without oclif, from its bundle (dist/proxy/sidecar.cjs,
 * scripts/build-proxy.mjs: one CommonJS file instead of ~150 ES modules, ~1.5 MB less private
 * memory per pod). Resolves false, having started nothing, for any other argv, with
 * MESH_NO_FAST_PATH=1, without a build, or when the settings do not load (oclif then reports the
 * problem as usual). A bundle that is there but fails to load is an error, not a fallback.
 */
export async function fastProxy(argv, env = process.env) {
  if (env.MESH_NO_FAST_PATH === '1' || argv.length !== 1 || argv[0] !== 'proxy') return false
  // (node:module and node:url through getBuiltinModule: an ES import of a builtin reads all its exports.)
  const bundle = process.getBuiltinModule('node:url').fileURLToPath(new URL('proxy/sidecar.cjs', DIST))
  if (!existsSync(bundle)) return false
  return process.getBuiltinModule('node:module').createRequire(import.meta.url)(bundle).serveProxyFromEnv(env)
}

// `mesh version --client [--short] [-o table|json]`, as src/commands/version.ts prints it.
// Without --client the command reads the server version from the cluster: oclif runs it.
function versionCommand(args, stdout) {
  let short = false
  let client = false
  let output = 'table'
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--short') short = true
    else if (a === '--client') client = true
    else if (a === '-o' || a === '--output') output = args[++i]
    else if (a.startsWith('--output=')) output = a.slice(9)
    else if (a.startsWith('-o=')) output = a.slice(3)
    else return false
  }
  if (!client) return false
  if (output === 'json') stdout.write(JSON.stringify({client: version()}, null, 2) + '\n')
  else if (output === 'table') stdout.write(short ? `${version()}\n` : `Client version: ${version()}\n`)
  else return false // oclif names the bad value
  return true
}

function version() {
  return JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')).version
}

// The root help that `npm run build` rendered with oclif at 80 columns (scripts/help-cache.mjs),
// plain and with oclif's bold headings, chosen as oclif would choose. On a terminal oclif uses
// the terminal's width, so the cache answers there only when bin/run.js pins oclif's width to 80.
function rootHelp(stdout, env, helpDir) {
  if (env.FORCE_COLOR !== undefined) return undefined
  if (stdout.isTTY && !pinnedWidth(stdout, env)) return undefined
  const styled = stdout.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb'
  try {
    return readFileSync(new URL(styled ? 'root-help.ansi.txt' : 'root-help.txt', helpDir), 'utf8')
  } catch {
    return undefined
  }
}

/** Help is formatted for 80 columns on terminals at least that wide (narrower ones: oclif fits). */
export function pinnedWidth(stdout = process.stdout, env = process.env) {
  if (env.OCLIF_COLUMNS) return env.OCLIF_COLUMNS === '80'
  return !stdout.isTTY || (stdout.columns ?? 0) >= 80
}
