// `mesh check --proxy` against a running demo: the demo writes the local state file the check
// reads (src/check/data-plane/local-state.ts: version, trust anchors, issuer, and each proxy's
// admin URL and inbound TLS address), and tells the check command where it is.
import {readFileSync, writeFileSync} from 'node:fs'
import {meshVersion} from '../lib/version.js'
import {demoPaths, type DemoPaths} from './paths.js'
import type {DemoPlan} from './plan.js'
import {findDemo} from './state.js'

export function writeCheckState(p: DemoPaths, plan: DemoPlan, anchorsFile: string, issuerFile: string): void {
  const doc = {
    version: meshVersion(),
    trustAnchorsPem: readFileSync(anchorsFile, 'utf8'),
    issuerPem: readFileSync(issuerFile, 'utf8'),
    proxies: plan.services.map((s) => ({
      name: s.pod,
      namespace: plan.namespace,
      adminUrl: `http://127.0.0.1:${s.proxy.admin}`,
      inbound: {host: '127.0.0.1', port: s.proxy.inbound, servername: s.identity},
    })),
  }
  writeFileSync(p.checkState, JSON.stringify(doc, null, 2) + '\n', {mode: 0o600})
}

/** The check state file of the demo running here (for `mesh check --proxy` with no flags), if any. */
export function demoCheckStateFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const p = demoPaths(env)
  const found = findDemo(p)
  return found.state === 'live' && found.demo?.status === 'ready' ? p.checkState : undefined
}
