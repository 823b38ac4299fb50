// What a container becomes on this host: an argv (by image name), an env (the pod spec's env
// with fieldRef, configMap/secret refs and $(VAR) expansion resolved as the kubelet does) and
// volume mounts (emptyDir -> a temp dir, projected ServiceAccount token -> TokenRequest file).
import {chmodSync, chownSync, existsSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {Kube, Obj} from './kube.js'

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const NODE = process.execPath
const TSX = [NODE, '--import', 'tsx', '--no-warnings']

/** Test programs standing in for app images: `mesh-e2e/<name>` runs test/e2e/apps/<name>.ts. */
export const APP_IMAGE_PREFIX = 'mesh-e2e/'

export class PodSpecError extends Error {}

/**
 * The argv for a container: the mesh image runs its entrypoint, `node bin/run.js` over the
 * compiled dist/ (so `npm run build` comes first, as in CI), app images their test program.
 */
export function containerArgv(c: Obj): string[] {
  const image = String(c.image ?? '')
  const name = image.split('@')[0]!.replace(/:[^/:]+$/, '')
  const args = (c.args ?? []) as string[]
  if (/(^|\/)mesh$/.test(name)) {
    if (c.command) throw new PodSpecError(`container ${c.name}: the mesh image is run through its entrypoint; command ${JSON.stringify(c.command)} is not supported`)
    if (!existsSync(path.join(ROOT, 'dist/proxy/sidecar.cjs'))) throw new PodSpecError(`container ${c.name}: the mesh image runs the compiled dist/, which is missing: run \`npm run build\` first`)
    return [NODE, path.join(ROOT, 'bin/run.js'), ...args]
  }
  if (name.startsWith(APP_IMAGE_PREFIX)) {
    const app = name.slice(APP_IMAGE_PREFIX.length)
    if (!/^[a-z0-9-]+$/.test(app)) throw new PodSpecError(`container ${c.name}: bad test app image ${image}`)
    return [...TSX, path.join(ROOT, 'test/e2e/apps', `${app}.ts`), ...((c.command ?? []) as string[]).slice(1), ...args]
  }
  throw new PodSpecError(`container ${c.name}: image ${image} is not known to the pod runner (use ${APP_IMAGE_PREFIX}<app> or the mesh image)`)
}

function fieldRef(pod: Obj, fieldPath: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath)
  if (m) return String(pod.metadata?.[m[1]!]?.[m[2]!] ?? '')
  switch (fieldPath) {
    case 'metadata.name': return pod.metadata.name
    case 'metadata.namespace': return pod.metadata.namespace
    case 'metadata.uid': return pod.metadata.uid
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName || 'default'
    case 'spec.nodeName': return pod.spec.nodeName ?? ''
    case 'status.podIP': return pod.status?.podIP ?? ''
    case 'status.hostIP': return pod.status?.hostIP ?? ''
    default: throw new PodSpecError(`fieldRef ${fieldPath} is not supported by the pod runner`)
  }
}

/** Kubernetes $(VAR) expansion: defined names expand, $$ escapes, unknown references stay. */
export function expand(value: string, vars: Map<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => {
    if (all === '$$') return '$'
    return vars.has(name!) ? vars.get(name!)! : all
  })
}

/** The env every image brings (Dockerfile ENV), under the container's own. */
export const IMAGE_ENV: Record<string, string> = {PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/'}

export async function resolveEnv(kube: Kube, pod: Obj, c: Obj): Promise<Record<string, string>> {
  if (c.envFrom) throw new PodSpecError(`container ${c.name}: envFrom is not supported by the pod runner`)
  const ns = pod.metadata.namespace
  const vars = new Map<string, string>(Object.entries(IMAGE_ENV))
  for (const e of (c.env ?? []) as Obj[]) {
    let v: string
    if (e.valueFrom?.fieldRef) v = fieldRef(pod, e.valueFrom.fieldRef.fieldPath)
    else if (e.valueFrom?.configMapKeyRef) {
      const cm = await kube.get(`/api/v1/namespaces/${ns}/configmaps/${e.valueFrom.configMapKeyRef.name}`)
      v = String(cm.data?.[e.valueFrom.configMapKeyRef.key] ?? '')
    } else if (e.valueFrom?.secretKeyRef) {
      const s = await kube.get(`/api/v1/namespaces/${ns}/secrets/${e.valueFrom.secretKeyRef.name}`)
      v = Buffer.from(String(s.data?.[e.valueFrom.secretKeyRef.key] ?? ''), 'base64').toString('utf8')
    } else if (e.valueFrom) throw new PodSpecError(`container ${c.name}: env ${e.name}: ${Object.keys(e.valueFrom).join(',')} is not supported`)
    else v = expand(String(e.value ?? ''), vars)
    vars.set(e.name, v)
  }
  return Object.fromEntries(vars)
}

export interface Mount {
  source: string
  target: string
}

/**
 * Materializes the pod's volumes under `dir` (once per pod) and returns the mounts of one
 * container. `ownerUid` owns emptyDirs and token files (the proxy's uid reads and writes them).
 */
export async function podVolumes(kube: Kube, pod: Obj, dir: string, ownerUid: number): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const v of (pod.spec.volumes ?? []) as Obj[]) {
    const vdir = path.join(dir, 'volumes', v.name)
    mkdirSync(vdir, {recursive: true})
    if (v.emptyDir) {
      chmodSync(vdir, 0o777)
    } else if (v.projected) {
      for (const src of (v.projected.sources ?? []) as Obj[]) {
        if (!src.serviceAccountToken) throw new PodSpecError(`volume ${v.name}: projected source ${Object.keys(src).join(',')} is not supported`)
        const sa = pod.spec.serviceAccountName || 'default'
        const tr = await kube.post(`/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${sa}/token`, {
          apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
          spec: {
            audiences: src.serviceAccountToken.audience ? [src.serviceAccountToken.audience] : [],
            expirationSeconds: src.serviceAccountToken.expirationSeconds ?? 3600,
            boundObjectRef: {apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid},
          },
        })
        const file = path.join(vdir, src.serviceAccountToken.path)
        writeFileSync(file, tr.status.token, {mode: 0o600})
        chownSync(file, ownerUid, ownerUid)
      }
      chmodSync(vdir, 0o755)
    } else {
      throw new PodSpecError(`volume ${v.name}: type ${Object.keys(v).filter((k) => k !== 'name').join(',')} is not supported by the pod runner`)
    }
    out.set(v.name, vdir)
  }
  return out
}

export function containerMounts(c: Obj, volumes: Map<string, string>): Mount[] {
  return ((c.volumeMounts ?? []) as Obj[]).map((m) => {
    const source = volumes.get(m.name)
    if (!source) throw new PodSpecError(`container ${c.name}: volumeMount ${m.name} names no volume of the pod`)
    return {source, target: m.mountPath}
  })
}

export function containerUid(c: Obj, pod: Obj): number | undefined {
  return c.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser
}
