// What `mesh demo` prints once everything is up: where each piece listens, the identities,
// and the commands to try next. Rendered from the state file, so `--detach` prints the same.
// The commands are written as the user can type them: `mesh ...` when `mesh` on their PATH is
// this very binary (npm link, a global install), else the path they started the demo with
// (`./bin/run.js ...` in a clone), with how to get `mesh` onto the PATH. README's quick start
// lists the same steps (test/demo/banner.test.ts keeps the two in step).
import {accessSync, constants, realpathSync} from 'node:fs'
import path from 'node:path'
import type {Output} from '../lib/output.js'
import type {DemoState} from './state.js'

/** What to try while the demo runs: mesh's arguments, and what they show. */
export const NEXT_STEPS: ReadonlyArray<readonly [string, string]> = [
  ['stat deploy', 'success rate, RPS, latency and TCP per workload'],
  ['top deploy/web', 'the busiest routes, live'],
  ['routes svc/books', 'the HTTPRoutes of books, and the rules proxies apply'],
  ['stat svc/books --routes', 'success rate, RPS and latency per route'],
  ['tap deploy/web', 'every request, with its mTLS identities'],
  ['edges deploy', 'who talks to whom, over mTLS'],
  ['check --proxy', 'the proxies are healthy and hold valid certificates'],
  ['demo status', 'what runs, restarts included'],
]

function realpath(p: string): string | undefined {
  try {
    return realpathSync(p)
  } catch {
    return undefined
  }
}

/** The first `mesh` on PATH, resolved through its links, or undefined. */
function meshOnPath(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, 'mesh')
    try {
      accessSync(candidate, constants.X_OK)
    } catch {
      continue
    }
    return realpath(candidate)
  }
  return undefined
}

export interface Invocation {
  /** What to type for `mesh`: `mesh`, or the entry script's path. */
  command: string
  /** When `mesh` on the PATH is not this binary: how to put it there. */
  hint?: string
}

/**
 * How the user can run this mesh: `mesh` when the PATH's `mesh` is this entry script, else the
 * entry script as a path relative to `cwd` (`./bin/run.js`), or absolute when outside it.
 */
export function invocation(entry = process.argv[1] ?? 'mesh', env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Invocation {
  const self = realpath(entry) ?? entry
  const onPath = meshOnPath(env)
  if (onPath !== undefined && onPath === self) return {command: 'mesh'}
  const rel = path.relative(cwd, entry)
  const command = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? `./${rel}` : entry
  const root = path.dirname(path.dirname(self))
  const hint = onPath === undefined
    ? `\`mesh\` is not on your PATH: run \`npm link\` in ${root} once to put it there (or type ${command} for mesh, as below)`
    : `the \`mesh\` on your PATH (${onPath}) is another install: below, ${command} is this one (\`npm link\` in ${root} makes it the PATH's)`
  return {command, hint}
}

/** The "try" lines, for `command` (mesh or a path). */
export function nextSteps(command: string): string[] {
  const width = Math.max(...NEXT_STEPS.map(([args]) => `${command} ${args}`.length)) + 2
  return NEXT_STEPS.map(([args, what]) => `  ${`${command} ${args}`.padEnd(width)}${what}`)
}

const PROTOCOL: Record<string, string> = {web: 'HTTP/1.1', books: 'HTTP/1.1 JSON', authors: 'gRPC', stock: 'TCP'}

export function behaviour(name: string, state: DemoState): string {
  const {failEvery, slowMs} = state.plan.load
  if (name === 'web') return 'front end, calls books'
  if (name === 'books') return `fails 1 in ${failEvery} requests (500), calls authors + stock`
  if (name === 'authors') return `ListAuthors takes ~${slowMs} ms`
  return 'line protocol, via CONNECT'
}

export async function renderSummary(state: DemoState, out: Output, opts: {detached?: boolean; how?: Invocation} = {}): Promise<string> {
  const how = opts.how ?? invocation()
  const {plan} = state
  const web = plan.services.find((s) => s.name === 'web')!
  const rows = plan.services.map((s) => [
    `deploy/${s.name}`, PROTOCOL[s.name] ?? '', `127.0.0.1:${s.appPort}`, `127.0.0.1:${s.proxy.inbound}`, `127.0.0.1:${s.proxy.outbound}`,
    `127.0.0.1:${s.proxy.admin}`, `127.0.0.1:${s.proxy.tap}`, behaviour(s.name, state),
  ])
  const table = await out.table(['WORKLOAD', 'PROTOCOL', 'APP', 'PROXY INBOUND', 'OUTBOUND', 'ADMIN', 'TAP', 'BEHAVIOUR'], rows)
  const ids = plan.services.map((s) => `  ${s.name.padEnd(8)} ${s.identity}`).join('\n')
  return [
    `mesh demo is running (pid ${state.pid}) in namespace ${plan.namespace}; files in ${state.dir}`,
    '',
    `controller (local mode): identity https://127.0.0.1:${plan.controller.identityPort}, destination wss://127.0.0.1:${plan.controller.destinationPort}`,
    `tap server: ${state.tapUrl ?? '-'} (found by the CLI through ${state.localContext ?? 'the local context'})`,
    `dashboard: ${state.dashboardUrl ?? '-'} (open it in a browser: the mesh as a picture)`,
    `load: ${plan.load.rps} requests/s to web, through web's proxy`,
    '',
    table.trimEnd(),
    '',
    'identities (mTLS between the proxies; trust anchor ' + state.anchorsFile + '):',
    ids,
    '',
    'try, in another shell:',
    ...(how.hint ? [`(${how.hint})`] : []),
    ...nextSteps(how.command),
    `  curl -s -H 'host: ${web.authority}' http://127.0.0.1:${web.proxy.inbound}/api/books/b1`,
    '',
    opts.detached ? `stop it with \`${how.command} demo stop\`` : `press Ctrl-C to stop (or run \`${how.command} demo stop\`)`,
    '',
  ].join('\n')
}
