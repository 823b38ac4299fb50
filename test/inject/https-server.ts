// A local HTTPS server on 127.0.0.1 with a fresh self-signed certificate, for URL inputs.
import {createServer, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import forge from 'node-forge'

export interface LocalHttps {
  url: string
  certPem: string
  server: Server
  close(): Promise<void>
}

export function selfSigned(): {cert: string; key: string} {
  const keys = forge.pki.rsa.generateKeyPair(2048)
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '01'
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000)
  const subject = [{name: 'commonName', value: '127.0.0.1'}]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    {name: 'basicConstraints', cA: true},
    {name: 'subjectAltName', altNames: [{type: 7, ip: '127.0.0.1'}]},
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return {cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey)}
}

/** Routes: path -> [status, body, headers]. */
export async function startHttps(routes: Record<string, [number, string, Record<string, string>?]>): Promise<LocalHttps> {
  const {cert, key} = selfSigned()
  const server = createServer({cert, key}, (req, res) => {
    const route = routes[req.url ?? '/']
    if (!route) {
      res.writeHead(404).end('not found')
      return
    }
    res.writeHead(route[0], {'content-type': 'application/yaml', ...route[2]}).end(route[1])
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `https://127.0.0.1:${port}`,
    certPem: cert,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
