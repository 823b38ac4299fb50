// The standard process_* families (as every Prometheus client library exports them), read from
// Node and /proc at scrape time.
import {readdirSync, readFileSync} from 'node:fs'
import type {Registry} from './registry.js'

const START_TIME_SECONDS = Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000

/** Fields of /proc/self/stat after the command name (which may contain spaces). */
function procStat(): string[] | undefined {
  const raw = readFileSync('/proc/self/stat', 'utf8')
  const close = raw.lastIndexOf(')')
  return close < 0 ? undefined : raw.slice(close + 2).trim().split(' ')
}

function maxFds(): number | undefined {
  const limits = readFileSync('/proc/self/limits', 'utf8')
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits)
  if (!m) return undefined
  return m[1] === 'unlimited' ? Infinity : Number(m[1])
}

export function registerProcessMetrics(registry: Registry): void {
  const cpu = registry.counter({name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.'}).labels()
  const rss = registry.gauge({name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.'}).labels()
  const start = registry.gauge({name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.'}).labels()
  const hasProc = (() => {
    try {
      readFileSync('/proc/self/stat')
      return true
    } catch {
      return false
    }
  })()
  start.set(START_TIME_SECONDS)
  registry.addCollector(() => {
    const u = process.cpuUsage()
    cpu.value = (u.user + u.system) / 1e6
    rss.set(process.memoryUsage.rss())
  })
  if (!hasProc) return
  const vsize = registry.gauge({name: 'process_virtual_memory_bytes', help: 'Virtual memory size in bytes.'}).labels()
  const openFds = registry.gauge({name: 'process_open_fds', help: 'Number of open file descriptors.'}).labels()
  const max = registry.gauge({name: 'process_max_fds', help: 'Maximum number of open file descriptors.'}).labels()
  registry.addCollector(() => {
    // Field 23 of stat is vsize; after the ")" split, index 20.
    const stat = procStat()
    if (stat) vsize.set(Number(stat[20]))
    // readdir opens one fd of its own to list the directory.
    openFds.set(readdirSync('/proc/self/fd').length - 1)
    const m = maxFds()
    if (m !== undefined) max.set(m)
  })
}

/** `mesh_proxy_build_info{version="..."} 1` (the controller's: `mesh_controller_build_info`). */
export function registerBuildInfo(registry: Registry, version: string, extra: Record<string, string> = {}, of: 'proxy' | 'controller' = 'proxy'): void {
  const names = ['version', ...Object.keys(extra)]
  registry
    .gauge({name: `mesh_${of}_build_info`, help: `Build information of the mesh ${of}.`, labelNames: names})
    .child([version, ...Object.values(extra)])
    .set(1)
}
