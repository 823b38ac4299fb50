// Shell completion against a real API server: `mesh tap deploy/<TAB>` offers the deployments
// of the namespace (-n, else the context's), `-n <TAB>` the namespaces, `--context <TAB>` the
// kubeconfig's contexts; the bash script shows them in COMPREPLY.
import {execFile} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {testCluster} from '../cluster/cluster.js'
import {ROOT, spawnMesh} from '../helpers/run.js'

const cluster = testCluster()
const NS = `completion-${process.pid}`
const env = () => ({KUBECONFIG: cluster.kubeconfigPath, MESH_HOME: '/nonexistent/mesh-home'})

async function values(words: string[]): Promise<string[]> {
  const r = await spawnMesh(['__complete', '--', ...words], {compiled: true, env: env()})
  expect(r.stderr).toBe('')
  expect(r.exitCode).toBe(0)
  return r.stdout.trimEnd().split('\n').slice(0, -1).map((l) => l.split('\t')[0]!)
}

const deployment = (name: string) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name, namespace: NS},
  spec: {selector: {matchLabels: {app: name}}, template: {metadata: {labels: {app: name}}, spec: {containers: [{name: 'app', image: 'app:1'}]}}},
})

beforeAll(async () => {
  await cluster.kubectl(['create', 'namespace', NS])
  await cluster.kubectl(['apply', '-f', '-'], {stdin: JSON.stringify({apiVersion: 'v1', kind: 'List', items: [deployment('books'), deployment('web')]})})
})

afterAll(async () => {
  await cluster.kubectl(['delete', 'namespace', NS, '--wait=false'], {allowFailure: true})
})

describe('completion from the cluster', () => {
  it('names of the kind typed, in -n namespace; namespaces; contexts', async () => {
    expect(await values(['tap', '-n', NS, 'deploy/'])).toEqual(['deploy/books', 'deploy/web'])
    expect(await values(['top', `--namespace=${NS}`, 'deploy/w'])).toEqual(['deploy/web'])
    expect(await values(['tap', 'deploy/'])).toEqual([]) // none in the context's namespace
    expect(await values(['stat', '-n', ''])).toContain(NS)
    expect(await values(['tap', '--context', ''])).toContain('restricted')
  })

  it('in bash, the way a user presses TAB', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const script = `mesh() { node ${JSON.stringify(`${ROOT}bin/run.js`)} "$@"; }
source <(mesh completion bash)
COMP_WORDS=(mesh tap -n ${NS} deploy/b); COMP_CWORD=4; _mesh_complete; printf '%s\\n' "\${COMPREPLY[@]}"`
      execFile('bash', ['-c', script], {env: {...process.env, ...env(), NO_COLOR: '1'}, timeout: 60_000}, (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout)))
    })
    expect(out).toBe('deploy/books\n')
  })
})
