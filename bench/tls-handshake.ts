// The cost of an mTLS handshake between two proxies, as the data path does it (Node's OpenSSL,
// TLS 1.3, client certificate requested and verified against the anchor, chain anchor ->
// issuer -> leaf), for the key type mesh uses (RSA 2048, certificates from src/tls) and ECDSA
// P-256 for comparison (openssl CLI), with session resumption off (every connection a full
// handshake) and on (the client offers the ticket of its previous connection).
// The server runs in a worker thread (its own event loop, like the peer proxy's process).
// Prints one line per case: wall time per handshake at concurrency 1, throughput at the given
// concurrency, and process CPU (client + server) per handshake.
//   node --import tsx bench/tls-handshake.ts [handshakes=300] [concurrency=4]
import {execFileSync} from 'node:child_process'
import {createPrivateKey, createPublicKey, sign, verify} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import tls from 'node:tls'
import {Worker} from 'node:worker_threads'
import {generateIssuer, generateRsaKey, generateTrustAnchor, signLeaf} from '../src/tls/index.js'

const N = Math.max(20, Math.min(Number(process.argv[2] ?? 300), 5000))
const CONCURRENCY = Math.max(1, Math.min(Number(process.argv[3] ?? 4), 64))
const DEADLINE_MS = 120_000

interface Material {
  label: string
  anchor: string
  server: {key: string; cert: string}
  client: {key: string; cert: string}
}

/** RSA 2048 through the mesh's own PKI (src/tls), exactly what certify issues. */
async function meshRsa(): Promise<Material> {
  const anchor = await generateTrustAnchor()
  const issuer = await generateIssuer(anchor)
  const leaf = async (name: string): Promise<{key: string; cert: string}> => {
    const k = await generateRsaKey(2048)
    return {key: k.keyPem, cert: signLeaf(issuer, {publicKeyPem: k.publicKeyPem, dnsName: name}).certPem + issuer.certPem}
  }
  return {label: 'rsa2048 (mesh)', anchor: anchor.certPem, server: await leaf('server.mesh'), client: await leaf('client.mesh')}
}

/** ECDSA P-256 anchor -> issuer -> leaves by the openssl CLI (node-forge cannot sign EC keys). */
function opensslEc(): Material {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-ec-'))
  const ossl = (...args: string[]): void => { execFileSync('openssl', args, {cwd: dir, stdio: 'ignore'}) }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  try {
    ossl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=anchor', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign')
    writeFileSync(join(dir, 'issuer.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n')
    ossl('req', ...ec, '-keyout', 'issuer.key', '-out', 'issuer.csr', '-subj', '/CN=issuer')
    ossl('x509', '-req', '-in', 'issuer.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'issuer.crt', '-days', '1', '-extfile', 'issuer.ext')
    const leaf = (name: string): {key: string; cert: string} => {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\n`)
      ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`)
      ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'issuer.crt', '-CAkey', 'issuer.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`)
      const read = (f: string): string => readFileSync(join(dir, f), 'utf8')
      return {key: read(`${name}.key`), cert: read(`${name}.crt`) + read('issuer.crt')}
    }
    return {label: 'ecdsa-p256', anchor: readFileSync(join(dir, 'ca.crt'), 'utf8'), server: leaf('server.mesh'), client: leaf('client.mesh')}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

// The server: requests and verifies the client certificate (as the inbound side's policy does),
// answers one byte and closes, so the client has seen any session ticket before it moves on.
const SERVER = `
const tls = require('node:tls')
const {parentPort, workerData} = require('node:worker_threads')
const m = workerData
const srv = tls.createServer({key: m.server.key, cert: m.server.cert, ca: m.anchor, requestCert: true, rejectUnauthorized: true}, (s) => {
  s.on('error', () => {})
  s.end('k')
})
srv.on('tlsClientError', () => {})
srv.listen(0, '127.0.0.1', () => parentPort.postMessage(srv.address().port))
parentPort.on('message', () => srv.close(() => process.exit(0)))
`

interface Result {
  wallUs: number
  perSecond: number
  cpuUs: number
  resumed: number
}

async function run(m: Material, resume: boolean): Promise<Result> {
  const worker = new Worker(SERVER, {eval: true, workerData: m})
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const ctx = tls.createSecureContext({key: m.client.key, cert: m.client.cert, ca: m.anchor})
  let session: Buffer | undefined
  let resumed = 0
  const one = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint()
      let hs = 0
      const s = tls.connect({port, host: '127.0.0.1', secureContext: ctx, servername: 'server.mesh', session: resume ? session : undefined, checkServerIdentity: () => undefined})
      s.on('session', (sess: Buffer) => { if (resume) session = sess })
      s.once('secureConnect', () => {
        hs = Number(process.hrtime.bigint() - t0) / 1000
        if (s.isSessionReused()) resumed++
      })
      s.on('data', () => {})
      s.once('end', () => { s.destroy(); resolve(hs) })
      s.once('error', reject)
      s.setTimeout(10_000, () => s.destroy(new Error('handshake timed out')))
    })
  const stopAt = Date.now() + DEADLINE_MS
  for (let i = 0; i < 10; i++) await one() // warm up (and get a first ticket)
  resumed = 0
  // Latency: one at a time.
  let wall = 0
  let done = 0
  const cpu0 = process.cpuUsage()
  for (; done < N && Date.now() < stopAt; done++) wall += await one()
  const cpu = process.cpuUsage(cpu0)
  const resumedShare = resumed / done
  // Throughput: CONCURRENCY clients at once, N handshakes in all.
  let next = 0
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({length: CONCURRENCY}, async () => {
    while (next < N && Date.now() < stopAt) {
      next++
      await one()
    }
  }))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  worker.postMessage('stop')
  await new Promise((r) => worker.once('exit', r))
  return {wallUs: wall / done, perSecond: next / seconds, cpuUs: (cpu.user + cpu.system) / done, resumed: resumedShare}
}

/** The signature work alone: each full mTLS handshake signs once per side (CertificateVerify) and verifies a chain of two per side. */
function primitives(m: Material): string {
  const key = createPrivateKey(m.server.key)
  const pub = createPublicKey(key)
  const data = Buffer.alloc(64, 1)
  const n = 200
  let sig = sign('sha256', data, key)
  let t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) sig = sign('sha256', data, key)
  const signUs = Number(process.hrtime.bigint() - t0) / 1000 / n
  t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) verify('sha256', data, pub, sig)
  const verifyUs = Number(process.hrtime.bigint() - t0) / 1000 / n
  return `${m.label.padEnd(15)} sign ${signUs.toFixed(0).padStart(5)} µs, verify ${verifyUs.toFixed(0).padStart(4)} µs (node crypto, one op)\n`
}

async function main(): Promise<void> {
  process.stdout.write(`node ${process.version}, OpenSSL ${process.versions.openssl}, TLS 1.3, mTLS (client certificate verified), ${N} handshakes, concurrency ${CONCURRENCY}\n`)
  const materials = [await meshRsa(), opensslEc()]
  for (const m of materials) process.stdout.write(primitives(m))
  for (const m of materials) {
    for (const resume of [false, true]) {
      const r = await run(m, resume)
      const mode = resume ? 'resumption on ' : 'resumption off'
      process.stdout.write(
        `${m.label.padEnd(15)} ${mode}  ${r.wallUs.toFixed(0).padStart(6)} µs/handshake (c=1)  ` +
        `${r.perSecond.toFixed(0).padStart(5)} handshakes/s (c=${CONCURRENCY})  ` +
        `${r.cpuUs.toFixed(0).padStart(6)} µs CPU/handshake (both sides)  resumed ${(r.resumed * 100).toFixed(0)}%\n`,
      )
    }
  }
}

await main()
