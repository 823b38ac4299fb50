/**
 * The Prometheus Operator's PodMonitor CRD for the cluster suites: taken from the
 * github.com/prometheus-operator/prometheus-operator Go module (which ships its CRD manifests
 * under example/prometheus-operator-crd/) through the Go module proxy, verified by
 * test/cluster/prometheus-operator/go.sum, and copied into the cache beside the cluster's
 * binaries, never into the repo. mesh never installs it: the CRD belongs to the operator.
 */
import {execFileSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, readFileSync, renameSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const MODULE = 'github.com/prometheus-operator/prometheus-operator'
const FILE = 'monitoring.coreos.com_podmonitors.yaml'

/** The module's version (test/cluster/prometheus-operator/go.mod) and the CRD file's path. */
export function podMonitorCrdFile(): {version: string; file: string} {
  const gomod = readFileSync(path.join(here, 'prometheus-operator', 'go.mod'), 'utf8')
  const version = new RegExp(`require ${MODULE.replace(/\./g, '\\.')} (v\\d+\\.\\d+\\.\\d+)\\n`).exec(gomod)?.[1]
  if (!version) throw new Error(`cannot read the ${MODULE} version from test/cluster/prometheus-operator/go.mod`)
  const cache = process.env.MESH_CLUSTER_CACHE || path.join(homedir(), '.cache', 'mesh-test-cluster')
  const file = path.join(cache, `prometheus-operator-${version}`, FILE)
  if (existsSync(file)) return {version, file}
  // -mod=readonly: go.sum must already hold the module's hash (a download it does not match fails).
  const out = execFileSync('go', ['mod', 'download', '-json', MODULE], {
    cwd: path.join(here, 'prometheus-operator'), encoding: 'utf8', timeout: 600_000,
    env: {...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly'},
  })
  const dir = (JSON.parse(out) as {Dir?: string; Error?: string})
  if (!dir.Dir) throw new Error(`go mod download ${MODULE}@${version} failed: ${dir.Error ?? out}`)
  const source = path.join(dir.Dir, 'example', 'prometheus-operator-crd', FILE)
  mkdirSync(path.dirname(file), {recursive: true})
  copyFileSync(source, `${file}.tmp`)
  renameSync(`${file}.tmp`, file)
  return {version, file}
}
