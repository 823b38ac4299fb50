// RSA 2048 vs 3072 for mesh identities: key generation (Node crypto), leaf signing (node-forge
// pure JS vs the native signer in src/tls/signer.ts), and full mTLS handshakes on 127.0.0.1
// with Node's OpenSSL (no session resumption). Prints one line per measurement.
//   node --import tsx bench/tls-keys.ts [handshakes=200]
import tls from 'node:tls'
import type {AddressInfo} from 'node:net'
import forge from 'node-forge'
import {createCsr, generateIssuer, generateRsaKey, generateTrustAnchor, parseCsr, signLeaf, type CaMaterial} from '../src/tls/index.js'

const HANDSHAKES = Math.min(Number(process.argv[2] ?? 200), 2000)

async function time<T>(n: number, fn: () => Promise<T> | T): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await fn()
  return Number(process.hrtime.bigint() - t0) / 1e6 / n
}

function fmt(ms: number): string {
  return `${ms.toFixed(2)} ms`
}

async function leafFor(issuer: CaMaterial, bits: number, name: string): Promise<{key: string; cert: string}> {
  const k = await generateRsaKey(bits)
  return {key: k.keyPem, cert: signLeaf(issuer, {publicKeyPem: k.publicKeyPem, dnsName: name}).certPem + issuer.certPem}
}

async function handshakes(bits: number, anchor: CaMaterial, issuer: CaMaterial): Promise<number> {
  const server = await leafFor(issuer, bits, 'server.mesh')
  const client = await leafFor(issuer, bits, 'client.mesh')
  const srv = tls.createServer({key: server.key, cert: server.cert, ca: anchor.certPem, requestCert: true, rejectUnauthorized: true, sessionTimeout: 0, ticketKeys: undefined}, (s) => s.end())
  srv.on('tlsClientError', () => {})
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as AddressInfo).port
  const ctx = tls.createSecureContext({key: client.key, cert: client.cert, ca: anchor.certPem})
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({port, host: '127.0.0.1', secureContext: ctx, servername: 'server.mesh', checkServerIdentity: () => undefined})
      s.once('secureConnect', () => {
        s.destroy()
        resolve()
      })
      s.once('error', reject)
    })
  await time(10, one)
  const ms = await time(HANDSHAKES, one)
  srv.close()
  return ms
}

async function main(): Promise<void> {
  process.stdout.write(`node ${process.version}, OpenSSL ${process.versions.openssl}\n`)
  const anchor = await generateTrustAnchor()
  for (const bits of [2048, 3072]) {
    const gen = await time(5, () => generateRsaKey(bits))
    process.stdout.write(`rsa${bits} keygen (node crypto):        ${fmt(gen)}\n`)
    const issuer = await generateIssuer(anchor, {keyBits: bits})
    const leafKey = await generateRsaKey(bits)
    const csr = createCsr(leafKey.keyPem, 'x.mesh')
    const native = await time(20, () => signLeaf(issuer, {publicKeyPem: parseCsr(csr).publicKeyPem, dnsName: 'x.mesh'}))
    process.stdout.write(`rsa${bits} parse CSR + sign leaf (native): ${fmt(native)}\n`)
    const forgeKey = forge.pki.privateKeyFromPem(issuer.keyPem)
    const forgeSign = await time(5, () => {
      const c = forge.pki.createCertificate()
      c.publicKey = forge.pki.publicKeyFromPem(leafKey.publicKeyPem)
      c.sign(forgeKey, forge.md.sha256.create())
    })
    process.stdout.write(`rsa${bits} sign leaf (node-forge JS):   ${fmt(forgeSign)}\n`)
    process.stdout.write(`rsa${bits} mTLS handshake x${HANDSHAKES}:       ${fmt(await handshakes(bits, anchor, issuer))} each\n`)
  }
}

await main()
