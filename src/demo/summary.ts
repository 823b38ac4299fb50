// What `mesh demo` prints once everything is up: where each piece listens, the identities,
// and the commands to try next. Rendered from the state file, so `--detach` prints the same.
import type {Output} from '../lib/output.js'
import type {DemoState} from './state.js'

const PROTOCOL: Record<string, string> = {web: 'HTTP/1.1', books: 'HTTP/1.1 JSON', authors: 'gRPC', stock: 'TCP'}

export function behaviour(name: string, state: DemoState): string {
  const {failEvery, slowMs} = state.plan.load
  if (name === 'web') return 'front end, calls books'
  if (name === 'books') return `fails 1 in ${failEvery} requests (500), calls authors + stock`
  if (name === 'authors') return `ListAuthors takes ~${slowMs} ms`
  return 'line protocol, via CONNECT'
}

export async function renderSummary(state: DemoState, out: Output): Promise<string> {
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
    `load: ${plan.load.rps} requests/s to web, through web's proxy`,
    '',
    table.trimEnd(),
    '',
    'identities (mTLS between the proxies; trust anchor ' + state.anchorsFile + '):',
    ids,
    '',
    'try, in another shell:',
    '  mesh stat deploy                 success rate, RPS and latency per workload',
    '  mesh top deploy/web              the busiest routes, live',
    '  mesh tap deploy/web              every request, with its mTLS identities',
    '  mesh edges deploy                who talks to whom, over mTLS',
    '  mesh check --proxy               the proxies are healthy and hold valid certificates',
    `  curl -s -H 'host: ${web.authority}' http://127.0.0.1:${web.proxy.inbound}/api/books/b1`,
    '  mesh demo status                 what runs, restarts included',
    '',
    'press Ctrl-C to stop (or run `mesh demo stop`)',
    '',
  ].join('\n')
}
