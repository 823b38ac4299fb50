// Before rendering against a cluster, `mesh install` runs the checks of `mesh check --pre`
// (src/check): the API answers, its version is supported, the namespace is free, and the user
// may create every kind of object the install creates. A failing check stops the install.
import type {Kube} from '../k8s/client.js'
import {MeshError} from '../lib/errors.js'
import type {Output} from '../lib/output.js'

export async function preInstallChecks(kube: Kube, out: Output): Promise<void> {
  const [{runChecks}, {createContext}, {kubernetesVersion}, {preInstall}] = await Promise.all([
    import('../check/runner.js'),
    import('../check/context.js'),
    import('../check/categories/kubernetes.js'),
    import('../check/categories/pre-install.js'),
  ])
  const ctx = createContext({requestTimeoutMs: kube.requestTimeoutMs})
  ctx.kube = kube
  const report = await runChecks([kubernetesVersion(), preInstall()], ctx)
  const failed = report.categories.flatMap((c) => c.checks.filter((k) => k.result === 'error'))
  const warned = report.categories.flatMap((c) => c.checks.filter((k) => k.result === 'warning'))
  for (const w of warned) out.warn(`${w.description}: ${w.error}`)
  if (failed.length > 0) {
    throw new MeshError(`pre-install checks failed: ${failed.map((f) => `${f.description}: ${f.error}`).join('; ')}`, {
      code: 'MESH_INSTALL_PRECHECK',
      suggestions: [...new Set(failed.map((f) => f.hint)), 'See every check with `mesh check --pre`; to render without the cluster, pass --ignore-cluster.'],
    })
  }
  const total = report.categories.reduce((n, c) => n + c.checks.length, 0)
  out.info(`Pre-install checks passed (${total} checks).`)
}
