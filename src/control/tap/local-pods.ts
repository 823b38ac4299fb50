// The local (demo) pods, read from the same file as the local destination registry: its
// `pods:` section (ignored by the destination service) names each demo pod's proxy ports.
//
//   pods:
//     - name: web-0
//       namespace: default            # default "default"
//       deployment: web               # or statefulset/daemonset/job: <name>; none: the pod itself
//       serviceAccount: web           # -> the pod's identity
//       tap: 127.0.0.1:41190          # the proxy's tap and admin addresses
//       admin: 127.0.0.1:41191
//       inbound: 127.0.0.1:41143      # optional: names the destination of tap events
//       meshed: true                  # default true
//       services: [web]               # optional: Services selecting the pod
//
// Re-read when the file changes (by mtime); a broken file is an error naming the field.
import {readFile, stat} from 'node:fs/promises'
import {InputError} from '../../lib/errors.js'
import {identityName} from '../../protocol/proxy-env.js'
import type {LocalPod} from './local-resolver.js'
import type {ResourceKind} from './resource.js'

const MAX_FILE = 4 * 1024 * 1024
const ADDR = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]):\d{1,5}$/
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/
const OWNER_KINDS: ResourceKind[] = ['deployment', 'statefulset', 'daemonset', 'job', 'replicaset']

function fail(file: string, where: string, problem: string): never {
  throw new InputError(`${file}: ${where}: ${problem}`, {code: 'MESH_LOCAL_PODS', suggestions: ['Fix the pods: section of the registry file; see docs/architecture/tap.md.']})
}

export async function parseLocalPods(text: string, file: string): Promise<LocalPod[]> {
  if (text.length > MAX_FILE) fail(file, 'document', `larger than ${MAX_FILE} bytes`)
  const {parse} = await import('yaml')
  const doc = parse(text, {version: '1.1'}) as {pods?: unknown; services?: unknown} | null
  const list = doc?.pods ?? []
  if (!Array.isArray(list)) fail(file, 'pods', 'must be a list')
  const svcByPod = servicesByPod(doc?.services)
  return list.map((raw: Record<string, unknown>, i): LocalPod => {
    const at = `pods[${i}]`
    if (typeof raw !== 'object' || raw === null) fail(file, at, 'must be a mapping')
    const str = (k: string, required = false): string | undefined => {
      const v = raw[k]
      if (v === undefined || v === null) return required ? fail(file, `${at}.${k}`, 'is required') : undefined
      if (typeof v !== 'string' || v === '' || v.length > 253) fail(file, `${at}.${k}`, 'must be a non-empty string')
      return v
    }
    const name = str('name', true)!
    if (!NAME.test(name)) fail(file, `${at}.name`, `${JSON.stringify(name)} is not a pod name`)
    const namespace = str('namespace') ?? 'default'
    const addr = (k: string): string | undefined => {
      const v = str(k)
      if (v !== undefined && !ADDR.test(v)) fail(file, `${at}.${k}`, `${JSON.stringify(v)} must be a loopback host:port`)
      return v
    }
    const kind = OWNER_KINDS.find((k) => raw[k] !== undefined)
    const owner = kind ? {kind, name: str(kind, true)!, namespace} : {kind: 'pod' as const, name, namespace}
    const sa = str('serviceAccount')
    const meshed = raw.meshed === undefined ? true : raw.meshed === true
    const services = Array.isArray(raw.services) ? raw.services.filter((s): s is string => typeof s === 'string') : []
    const tap = addr('tap')
    const admin = addr('admin')
    return {
      namespace, name, owner, meshed, ip: '127.0.0.1', running: true, labels: {},
      serviceAccount: sa,
      identity: meshed && sa ? identityName(sa, namespace) : undefined,
      tapAddress: meshed ? tap : undefined,
      adminAddress: meshed ? admin : undefined,
      inboundAddress: addr('inbound'),
      services: [...new Set([...services, ...(svcByPod.get(`${namespace}/${name}`) ?? [])])],
    }
  })
}

/** Services whose endpoints name a pod (`pod:` on an endpoint of the destination registry). */
function servicesByPod(services: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>()
  if (!Array.isArray(services)) return out
  for (const s of services as {name?: unknown; namespace?: unknown; ports?: {endpoints?: {pod?: unknown}[]}[]}[]) {
    if (typeof s?.name !== 'string') continue
    const ns = typeof s.namespace === 'string' ? s.namespace : 'default'
    for (const p of Array.isArray(s.ports) ? s.ports : []) {
      for (const e of Array.isArray(p?.endpoints) ? p.endpoints : []) {
        if (typeof e?.pod !== 'string') continue
        const key = `${ns}/${e.pod}`
        out.set(key, [...(out.get(key) ?? []), s.name])
      }
    }
  }
  return out
}

/** A PodSource for LocalResolver: the file's pods, re-read when its mtime changes. */
export function localPodsFromFile(file: string): () => Promise<LocalPod[]> {
  let cache: {mtimeMs: number; pods: LocalPod[]} | undefined
  return async () => {
    const st = await stat(file)
    if (cache && cache.mtimeMs === st.mtimeMs) return cache.pods
    const pods = await parseLocalPods(await readFile(file, 'utf8'), file)
    cache = {mtimeMs: st.mtimeMs, pods}
    return pods
  }
}
