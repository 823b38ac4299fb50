// `mesh check` as one library call: build the context, run the mode's categories with a
// spinner on stderr (TTY only), render the report to stdout, return the exit code.
import type {KubeOptions} from '../k8s/client.js'
import {formatDuration} from '../lib/duration.js'
import type {Output} from '../lib/output.js'
import {createContext} from './context.js'
import type {DataPlaneSource} from './data-plane/source.js'
import {categoriesFor, type CheckMode} from './plan.js'
import {renderReport, type CheckOutputFormat} from './render/index.js'
import {exitCodeFor, type CheckReport} from './report.js'
import {runChecks} from './runner.js'
import type {CheckOptions} from './types.js'

export interface MeshCheckOptions {
  mode: CheckMode
  kube: KubeOptions
  options?: Partial<CheckOptions>
  output: CheckOutputFormat
  /** --wait in ms (0: no retries). */
  waitMs?: number
  retryIntervalMs?: number
  /** For --proxy against a local demo. */
  dataPlane?: DataPlaneSource
  now?: () => Date
}

export async function runMeshCheck(o: MeshCheckOptions, out: Output): Promise<{report: CheckReport; exitCode: 0 | 1}> {
  const ctx = createContext(o.kube, o.options, o.now)
  if (o.dataPlane) ctx.dataPlane = o.dataPlane
  const spinner = out.stderr.isTTY ? out.spinner('checking') : undefined
  let report: CheckReport
  try {
    report = await runChecks(categoriesFor(o.mode), ctx, {
      waitMs: o.waitMs,
      retryIntervalMs: o.retryIntervalMs,
      observer: {
        onAttempt: (check, attempt, lastError) => {
          if (spinner) spinner.update(attempt === 1 ? check.description : `${check.description} (retrying: ${lastError ?? ''})`)
          // Off a terminal, a check that --wait retries says so once, so a long wait is never silent.
          else if (attempt === 2) out.info(`waiting for "${check.description}" (--wait ${formatDuration(o.waitMs ?? 0)}): ${lastError ?? ''}`)
        },
      },
    })
  } finally {
    spinner?.stop()
  }
  out.stdout.write(renderReport(report, o.output, out.color))
  return {report, exitCode: exitCodeFor(report)}
}
