/**
 * The Gateway API CRDs (HTTPRoute, GRPCRoute) for the cluster suites, from the
 * sigs.k8s.io/gateway-api Go module through test/cluster/gateway-api-crds (cached outside the
 * repo, never committed). The suites apply them with kubectl when they need them: mesh never
 * installs them.
 */
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

export interface GatewayApiCrds {
  /** e.g. v1.6.3 */
  version: string
  /** Directories holding gateway.networking.k8s.io_{httproutes,grpcroutes}.yaml. */
  standard: string
  experimental: string
}

let cached: GatewayApiCrds | undefined

export function gatewayApiCrds(): GatewayApiCrds {
  if (cached) return cached
  const out = execFileSync('bash', [path.join(here, 'gateway-api-crds')], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000})
  const dir = out.trim().split('\n').pop()!
  const version = /require sigs\.k8s\.io\/gateway-api (v\S+)/.exec(readFileSync(path.join(here, 'gateway-api', 'go.mod'), 'utf8'))![1]!
  cached = {version, standard: path.join(dir, 'standard'), experimental: path.join(dir, 'experimental')}
  return cached
}
