// The cost of a discovery lookup as a proxy makes it: DestinationClient.resolve() of an IP the
// destination service does not know (what every new external IP, and every re-check of one,
// costs; recheck.ts), and of a Service name, against a real destination service (file registry)
// over mTLS, the client holding a proxy identity certified by a real identity service.
// Both run in this process (so CPU is the two sides together), one lookup at a time.
// Prints wall time per lookup (p50, p90, max), CPU per lookup, and the most connections the
// destination service held after a lookup (one per client since session 7). Then how long an
// edit of the registry file takes to reach a connected client as a pushed change (the file
// watch, the reload, the stream): what test/control/destination-local.test.ts asserted as
// "within a second" until tests stopped asserting the machine's speed.
//   npx tsx bench/destination-lookup.ts [lookups=200]
import {mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {controllerIdentityName, ensureLocalIdentityDir, FileIssuerSource, issueLocalToken, LocalTokenValidator, ServingCert, startIdentityService} from '../src/control/identity/index.js'
import {LocalRegistry, startDestinationService} from '../src/control/destination/index.js'
import {silentLogger} from '../src/control/logger.js'
import {identityName} from '../src/protocol/proxy-env.js'
import {DestinationClient} from '../src/proxy/discovery/destination-client.js'
import {startIdentity} from '../src/proxy/identity/index.js'

const N = Math.max(20, Math.min(Number(process.argv[2] ?? 200), 5000))
const DEADLINE_MS = 120_000

const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-dest-'))
try {
  const local = await ensureLocalIdentityDir(join(dir, 'ca'))
  const registry = join(dir, 'registry.json')
  writeFileSync(registry, JSON.stringify({services: [{name: 'web', namespace: 'shop', ports: [{port: 80, endpoints: [{address: '127.0.0.1', port: 18080, serviceAccount: 'web'}]}]}]}))
  const issuer = new FileIssuerSource(local.dir, silentLogger, 0)
  await issuer.start()
  const serving = new ServingCert({name: controllerIdentityName(), issuer, log: silentLogger})
  await serving.start()
  const dest = await startDestinationService({registry: new LocalRegistry({file: registry}), serving, host: '127.0.0.1', port: 0, log: silentLogger})
  const idSvc = await startIdentityService({issuer, validator: new LocalTokenValidator(local.tokenSecret), host: '127.0.0.1', port: 0, log: silentLogger})
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, issueLocalToken('client', 'shop', local.tokenSecret))
  const id = await startIdentity({localName: identityName('client', 'shop'), identityAddr: `https://127.0.0.1:${idSvc.port}`, identityServiceName: idSvc.serviceName, tokenFile, trustAnchorsPem: local.anchorsPem})
  await id.ready()
  const client = new DestinationClient({addr: `wss://127.0.0.1:${dest.port}`, namespace: 'shop', identity: id, serverName: controllerIdentityName()})
  let connections = 0

  const measure = async (label: string, authority: (i: number) => string, expectFound: boolean): Promise<void> => {
    const times: number[] = []
    const deadline = Date.now() + DEADLINE_MS
    const cpu0 = process.cpuUsage()
    for (let i = 0; i < N && Date.now() < deadline; i++) {
      const t0 = performance.now()
      const r = await client.resolve(authority(i))
      times.push(performance.now() - t0)
      connections = Math.max(connections, dest.connections())
      if ((r !== null) !== expectFound) throw new Error(`${authority(i)}: expected ${expectFound ? 'endpoints' : 'no answer (external)'}`)
      r?.close()
    }
    const cpu = process.cpuUsage(cpu0)
    times.sort((a, b) => a - b)
    const at = (q: number): string => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2)
    const cpuMs = (cpu.user + cpu.system) / 1000 / times.length
    console.log(`${label.padEnd(26)} ${String(times.length).padStart(5)} lookups   p50 ${at(0.5).padStart(6)} ms   p90 ${at(0.9).padStart(6)} ms   max ${times[times.length - 1]!.toFixed(2).padStart(6)} ms   CPU ${cpuMs.toFixed(2)} ms/lookup`)
  }

  console.log(`destination lookups over mTLS, client and service in one process, one at a time (${N} each)`)
  await measure('unknown IP (external)', (i) => `10.77.${i >> 8}.${i & 255}:80`, false)
  await measure('service name', () => 'web.shop.svc.cluster.local:80', true)
  console.log(`connections the destination service held at most: ${connections}`)

  // Registry edit -> pushed change, one edit at a time (the endpoint's port alternates).
  const edits = Math.min(N, 50)
  const r = (await client.resolve('web.shop.svc.cluster.local:80'))!
  const times: number[] = []
  for (let i = 0; i < edits; i++) {
    const port = 18081 + (i % 2)
    const seen = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`edit ${i}: no change within 30 s`)), 30_000)
      const off = r.onChange((set) => {
        if (set.endpoints[0]?.port !== port) return
        clearTimeout(t)
        off()
        resolve()
      })
    })
    const t0 = performance.now()
    writeFileSync(registry + '.tmp', JSON.stringify({services: [{name: 'web', namespace: 'shop', ports: [{port: 80, endpoints: [{address: '127.0.0.1', port, serviceAccount: 'web'}]}]}]}))
    renameSync(registry + '.tmp', registry)
    await seen
    times.push(performance.now() - t0)
  }
  r.close()
  times.sort((a, b) => a - b)
  const q = (x: number): string => times[Math.min(times.length - 1, Math.floor(x * times.length))]!.toFixed(1)
  console.log(`registry edit -> client      ${String(times.length).padStart(5)} edits     p50 ${q(0.5).padStart(6)} ms   p90 ${q(0.9).padStart(6)} ms   max ${times[times.length - 1]!.toFixed(1).padStart(6)} ms`)
  client.close()
  id.close()
  await dest.stop()
  await idSvc.stop()
  serving.stop()
  await issuer.stop()
} finally {
  rmSync(dir, {recursive: true, force: true})
}
