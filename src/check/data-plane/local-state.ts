// The file through which a running `mesh demo` tells `mesh check --proxy --local-state FILE`
// what it runs. JSON, written by the demo, read here with a size bound and strict validation:
//
//   {"version": "0.1.0", "trustAnchorsPem": "-----BEGIN ...", "issuerPem": "...",
//    "proxies": [{"name": "web", "namespace": "demo", "adminUrl": "http://127.0.0.1:41913",
//                 "inbound": {"host": "127.0.0.1", "port": 41433}}]}
import {readFile, stat} from 'node:fs/promises'
import {InputError} from '../../lib/errors.js'
import {isLoopback} from '../../proxy/admin/listen-addr.js'
import {localSource, type LocalProxy} from './local-source.js'
import type {DataPlaneSource, Expected} from './source.js'

export const MAX_STATE_BYTES = 1024 * 1024
const MAX_PROXIES = 1000

export interface LocalState extends Expected {
  proxies: LocalProxy[]
}

function bad(file: string, problem: string): InputError {
  return new InputError(`${file}: ${problem}`, {
    code: 'MESH_CHECK_LOCAL_STATE',
    suggestions: ['Pass the state file a running `mesh demo` wrote, or omit --local-state to check the cluster.'],
  })
}

export function parseLocalState(text: string, file: string): LocalState {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (error) {
    throw bad(file, `not valid JSON (${(error as Error).message})`)
  }
  const o = v as Record<string, unknown>
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad(file, 'expected a JSON object')
  if (typeof o.version !== 'string' || !o.version) throw bad(file, '"version" must be a non-empty string')
  if (typeof o.trustAnchorsPem !== 'string' || !o.trustAnchorsPem.includes('BEGIN CERTIFICATE')) throw bad(file, '"trustAnchorsPem" must hold PEM certificates')
  if (o.issuerPem !== undefined && typeof o.issuerPem !== 'string') throw bad(file, '"issuerPem" must be a string')
  if (!Array.isArray(o.proxies)) throw bad(file, '"proxies" must be a list')
  if (o.proxies.length > MAX_PROXIES) throw bad(file, `more than ${MAX_PROXIES} proxies`)
  const proxies = o.proxies.map((p: unknown, i): LocalProxy => {
    const q = p as Record<string, unknown>
    const at = `proxies[${i}]`
    if (!q || typeof q !== 'object' || typeof q.name !== 'string' || !q.name) throw bad(file, `${at}.name must be a non-empty string`)
    if (q.namespace !== undefined && typeof q.namespace !== 'string') throw bad(file, `${at}.namespace must be a string`)
    let url: URL
    try {
      url = new URL(String(q.adminUrl))
    } catch {
      throw bad(file, `${at}.adminUrl must be a URL such as http://127.0.0.1:4191`)
    }
    // Local mode talks to this machine only.
    if (url.protocol !== 'http:' || !isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) throw bad(file, `${at}.adminUrl must be http:// on a loopback address, got ${url.href}`)
    const proxy: LocalProxy = {name: q.name, adminUrl: url.href.replace(/\/$/, '')}
    if (typeof q.namespace === 'string') proxy.namespace = q.namespace
    if (q.inbound !== undefined) {
      const ib = q.inbound as Record<string, unknown>
      if (!ib || typeof ib.host !== 'string' || !isLoopback(ib.host) || !Number.isInteger(ib.port) || (ib.port as number) < 1 || (ib.port as number) > 65535) {
        throw bad(file, `${at}.inbound must be {"host": <loopback address>, "port": 1-65535}`)
      }
      proxy.inbound = {host: ib.host, port: ib.port as number, ...(typeof ib.servername === 'string' ? {servername: ib.servername} : {})}
    }
    return proxy
  })
  return {version: o.version, trustAnchorsPem: o.trustAnchorsPem, ...(typeof o.issuerPem === 'string' ? {issuerPem: o.issuerPem} : {}), proxies}
}

/** A data plane source that re-reads the state file on every look (the demo may restart proxies). */
export async function localStateSource(file: string): Promise<DataPlaneSource> {
  const load = async (): Promise<LocalState> => {
    let info
    try {
      info = await stat(file)
    } catch {
      throw bad(file, 'no such file')
    }
    if (info.size > MAX_STATE_BYTES) throw bad(file, `larger than ${MAX_STATE_BYTES} bytes`)
    return parseLocalState(await readFile(file, 'utf8'), file)
  }
  await load() // fail early, as a usage problem, before any check runs
  const source = localSource({proxies: async () => (await load()).proxies, expected: load})
  return {...source, description: `local demo (${file})`}
}
