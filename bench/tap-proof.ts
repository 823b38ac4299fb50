// Cost of the client certificate proof (src/control/tap/caller-proof.ts) per tap API request:
// the CLI's signature and the tap server's verification (chain to the client CA + signature),
// for RSA 2048 (kubeadm's and the test cluster's client certificates) and ECDSA P-256.
// Run: npx tsx bench/tap-proof.ts. No network; bounded in count.
import {generateKeyPairSync} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {signProof, verifyProof} from '../src/control/tap/caller-proof.js'
import {ReplayCache} from '../src/control/tap/replay-cache.js'

const N = 500
const request = {method: 'GET', path: '/v1/stat', query: 'resource=deploy&namespace=shop&window=1m'}

/** A CA and a client certificate of the given key type, made with openssl. */
function pki(kind: 'rsa' | 'ec'): {ca: string; cert: string; key: string} {
  const dir = mkdtempSync(path.join(tmpdir(), 'mesh-bench-proof-'))
  const f = (n: string) => path.join(dir, n)
  const newkey = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
  const run = (args: string[]) => execFileSync('openssl', args, {stdio: ['ignore', 'ignore', 'pipe']})
  run(['req', '-x509', '-nodes', ...newkey, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=bench-ca', '-days', '1'])
  run(['req', '-new', '-nodes', ...newkey, '-keyout', f('user.key'), '-out', f('user.csr'), '-subj', '/O=dev/CN=alice'])
  writeFileSync(f('ext'), 'extendedKeyUsage=clientAuth\n')
  run(['x509', '-req', '-in', f('user.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('user.crt'), '-days', '1', '-extfile', f('ext')])
  const out = {ca: readFileSync(f('ca.crt'), 'utf8'), cert: readFileSync(f('user.crt'), 'utf8'), key: readFileSync(f('user.key'), 'utf8')}
  rmSync(dir, {recursive: true, force: true})
  return out
}

generateKeyPairSync('ec', {namedCurve: 'P-256'}) // warm up the crypto module
for (const kind of ['rsa', 'ec'] as const) {
  const {ca, cert, key} = pki(kind)
  const cache = new ReplayCache()
  const proofs: Array<Record<string, string>> = []
  let t0 = performance.now()
  for (let i = 0; i < N; i++) proofs.push(signProof(cert, key, request))
  const signMs = (performance.now() - t0) / N
  t0 = performance.now()
  for (const headers of proofs) verifyProof({headers, request, clientCaPem: ca, remember: (k, e) => cache.add(k, e)})
  const verifyMs = (performance.now() - t0) / N
  console.log(`${kind === 'rsa' ? 'RSA 2048' : 'ECDSA P-256'}: sign ${signMs.toFixed(3)} ms, verify ${verifyMs.toFixed(3)} ms per request (${N} each)`)
}
