// kubernetes-api and kubernetes-version: the cluster answers, runs a version we support, and
// its clock agrees with ours. Shared by `mesh check --pre` and `mesh check`.
import {loadKube} from '../../k8s/client.js'
import {requireKube} from '../context.js'
import {rawGet} from '../k8s-raw.js'
import type {Category, CheckContext} from '../types.js'

export interface ServerVersion {
  gitVersion: string
  major: number
  minor: number
}

export function parseServerVersion(body: string): ServerVersion {
  let v: {gitVersion?: unknown; major?: unknown; minor?: unknown}
  try {
    v = JSON.parse(body) as typeof v
  } catch {
    throw new Error('the API server answered /version with something that is not JSON')
  }
  const git = typeof v.gitVersion === 'string' ? v.gitVersion : ''
  const m = /^v?(\d+)\.(\d+)/.exec(git)
  const major = m ? Number(m[1]) : Number.parseInt(String(v.major ?? ''), 10)
  const minor = m ? Number(m[2]) : Number.parseInt(String(v.minor ?? ''), 10)
  if (!Number.isFinite(major) || !Number.isFinite(minor)) throw new Error(`cannot read the API server version from ${JSON.stringify(body.slice(0, 200))}`)
  return {gitVersion: git || `v${major}.${minor}`, major, minor}
}

async function getVersion(ctx: CheckContext): Promise<{version: ServerVersion; serverDate?: Date; sentAt: number; receivedAt: number}> {
  const kube = requireKube(ctx)
  const sentAt = ctx.now().getTime()
  let res
  try {
    res = await rawGet(kube, '/version', {timeoutMs: ctx.options.requestTimeoutMs})
  } catch (error) {
    throw new Error(`cannot reach the API server at ${kube.server}: ${(error as Error).message}`, {cause: error})
  }
  const receivedAt = ctx.now().getTime()
  if (res.status === 401) throw new Error(`the API server at ${kube.server} refused the credentials (401)`)
  if (res.status !== 200) throw new Error(`the API server at ${kube.server} answered GET /version with HTTP ${res.status}`)
  const date = typeof res.headers.date === 'string' ? new Date(res.headers.date) : undefined
  return {version: parseServerVersion(res.body), serverDate: date && !Number.isNaN(date.getTime()) ? date : undefined, sentAt, receivedAt}
}

function formatSkew(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000)
  return s >= 120 ? `${Math.round(s / 60)}m` : `${s}s`
}

export function kubernetesApi(): Category {
  return {
    name: 'kubernetes-api',
    checks: [
      {
        id: 'MESH1001',
        description: 'can initialize the client',
        hint: 'Check the kubeconfig: pass --kubeconfig/--context, or set KUBECONFIG.',
        fatal: true,
        async run(ctx) {
          ctx.kube = await loadKube(ctx.kubeOptions)
        },
      },
      {
        id: 'MESH1002',
        description: 'can query the Kubernetes API',
        hint: 'Check that the API server is reachable with `kubectl version`, and that your credentials are current.',
        fatal: true,
        retryDeadline: 5 * 60_000,
        async run(ctx) {
          await getVersion(ctx)
        },
      },
    ],
  }
}

export function kubernetesVersion(): Category {
  return {
    name: 'kubernetes-version',
    checks: [
      {
        id: 'MESH1003',
        description: 'is running the minimum Kubernetes API version',
        hint: 'Upgrade the cluster to a supported Kubernetes version.',
        async run(ctx) {
          const {version} = await getVersion(ctx)
          const [minMajor, minMinor] = ctx.options.minKubernetesVersion.split('.').map(Number) as [number, number]
          if (version.major < minMajor || (version.major === minMajor && version.minor < minMinor)) {
            throw new Error(`the API server runs ${version.gitVersion}; mesh needs ${ctx.options.minKubernetesVersion} or newer`)
          }
        },
      },
      {
        id: 'MESH1004',
        description: "this machine's clock agrees with the API server's",
        hint: 'Synchronise the clock (NTP): certificates and tokens are checked against it.',
        warning: true,
        async run(ctx) {
          const {serverDate, sentAt, receivedAt} = await getVersion(ctx)
          if (!serverDate) throw new Error('the API server sent no Date header: cannot compare clocks')
          // The header has one-second precision and was written somewhere between send and receive.
          const local = (sentAt + receivedAt) / 2
          const skew = local - serverDate.getTime()
          const slack = 1000 + (receivedAt - sentAt) / 2
          if (Math.abs(skew) - slack > ctx.options.maxClockSkewMs) {
            throw new Error(
              `this machine's clock is ${formatSkew(skew)} ${skew > 0 ? 'ahead of' : 'behind'} the API server's (more than ${formatSkew(ctx.options.maxClockSkewMs)})`,
            )
          }
        },
      },
    ],
  }
}
