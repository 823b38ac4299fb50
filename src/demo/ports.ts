// Ports for the demo: consecutive from --port-base, or free ones the OS hands out on
// 127.0.0.1 (bound, read, released: another process could take one in between, which the
// readiness waits then report by name).
import net from 'node:net'
import {InputError} from '../lib/errors.js'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** `count` distinct ports: base, base+1, ... (each checked free), or free ones when base is undefined. */
export async function allocatePorts(count: number, base?: number): Promise<number[]> {
  if (base === undefined) {
    const ports = new Set<number>()
    while (ports.size < count) ports.add(await freePort())
    return [...ports]
  }
  if (base < 1024 || base + count - 1 > 65535) {
    throw new InputError(`--port-base ${base} leaves no room for the demo's ${count} ports`, {suggestions: [`Pick a base between 1024 and ${65535 - count + 1}, e.g. --port-base 17000.`]})
  }
  const ports = Array.from({length: count}, (_, i) => base + i)
  for (const p of ports) {
    if (!(await portFree(p))) {
      throw new InputError(`port ${p} (from --port-base ${base}) is already in use on 127.0.0.1`, {suggestions: ['Pick another --port-base, or leave it out to use free ports.']})
    }
  }
  return ports
}
