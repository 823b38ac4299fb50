/**
 * `mesh dashboard` against the real test cluster, as a user without the rights: the page shows
 * the API server's refusal (403 on services/proxy, naming the user), not data. The dashboard goes
 * through the API server's service proxy with the kubeconfig's own credentials, as `mesh stat`
 * does, so it can show no more than kubectl would let that user see.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import type {Browser} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {RESTRICTED_USER, testCluster} from '../cluster/cluster.js'
import {launchChromium, requireChromium} from '../helpers/chromium.js'
import {startDashboardProcess} from '../helpers/dashboard.js'
import {ROOT} from '../helpers/run.js'

const cluster = testCluster()
const home = mkdtempSync(path.join(tmpdir(), 'mesh-dashboard-cluster-'))
let browser: Browser

requireChromium('the dashboard\'s access test')

beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  rmSync(home, {recursive: true, force: true})
})

describe('mesh dashboard on a cluster', () => {
  it('without the user\'s rights (the restricted context), the page shows the API server\'s refusal, not data', async () => {
    const dashboard = await startDashboardProcess(['--kubeconfig', cluster.kubeconfigPath, '--context', 'restricted'], {MESH_HOME: home})
    try {
      const page = await (await browser.newContext()).newPage()
      await page.goto(dashboard.url)
      const alert = page.getByRole('alert')
      await alert.waitFor({timeout: 60_000})
      const text = (await alert.textContent()) ?? ''
      expect(text).toContain('HTTP 403')
      expect(text).toContain(`User "${RESTRICTED_USER}" cannot get resource "services/proxy"`)
      expect(text).toContain('You need `get` on services/proxy')
      expect(await page.locator('[data-testid="workloads"]').count()).toBe(0)
      expect(await page.locator('[data-testid="graph"]').count()).toBe(0)
      expect(dashboard.stderr()).toContain(`serving the dashboard of cluster ${cluster.server} (context restricted)`)
      await page.screenshot({path: path.join(ROOT, 'test-artifacts/dashboard/refused-cluster.png'), fullPage: true})
      await page.context().close()
    } finally {
      await dashboard.stop()
    }
  })
})
