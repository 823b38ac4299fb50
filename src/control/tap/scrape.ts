// Reads one proxy's /metrics (plain HTTP on its admin port), bounded in size and time, and
// keeps only the families stat, edges and authz use.
import http from 'node:http'
import {parseMetrics, type MetricFamily} from '../../metrics/parse.js'
import type {Scrape} from '../../stat/window.js'
import {AUTHZ_METRIC_FAMILIES} from '../../authz/observed.js'

export const MAX_METRICS_BYTES = 16 * 1024 * 1024
export const SCRAPE_TIMEOUT_MS = 5_000

const KEEP = new Set<string>(['request_total', 'response_total', 'response_latency_ms', 'tcp_open_total', 'tcp_open_connections', 'tcp_read_bytes_total', 'tcp_write_bytes_total', 'process_start_time_seconds', ...AUTHZ_METRIC_FAMILIES])

export function fetchText(url: string, timeoutMs = SCRAPE_TIMEOUT_MS, maxBytes = MAX_METRICS_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, {timeout: timeoutMs, headers: {accept: 'text/plain'}}, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > maxBytes) {
          req.destroy(new Error(`GET ${url}: more than ${maxBytes} bytes`))
          return
        }
        chunks.push(c)
      })
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

export async function scrapeMetrics(adminAddress: string, now: () => number = Date.now): Promise<Scrape> {
  const text = await fetchText(`http://${adminAddress}/metrics`)
  const all = parseMetrics(text)
  const families = new Map<string, MetricFamily>()
  for (const [name, f] of all) if (KEEP.has(name)) families.set(name, f)
  return {at: now(), families}
}
