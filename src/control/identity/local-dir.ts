// `mesh demo` / `mesh controller --mode local`: a directory holding a trust anchor, an issuer
// and the local token secret, generated on first use.
import {existsSync, mkdirSync} from 'node:fs'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {generateIssuer, generateTrustAnchor} from '../../tls/ca.js'
import {LOCAL_IDENTITY_FILES as F} from './file-issuer.js'
import {newLocalTokenSecret} from './local-tokens.js'

export interface LocalIdentityDir {
  dir: string
  anchorsPem: string
  tokenSecret: string
  /** True when this call generated the material. */
  created: boolean
}

/** Creates the anchor, issuer and token secret in `dir` unless they exist; returns what the demo needs. */
export async function ensureLocalIdentityDir(dir: string): Promise<LocalIdentityDir> {
  mkdirSync(dir, {recursive: true, mode: 0o700})
  const f = (n: string): string => path.join(dir, n)
  let created = false
  if (!existsSync(f(F.anchor)) || !existsSync(f(F.issuerCert)) || !existsSync(f(F.issuerKey))) {
    const anchor = await generateTrustAnchor({commonName: 'root.mesh.local'})
    const issuer = await generateIssuer(anchor)
    // The anchor's key is not needed after the issuer is signed: it is not kept.
    await writeFile(f(F.issuerKey), issuer.keyPem, {mode: 0o600})
    await writeFile(f(F.issuerCert), issuer.certPem, {mode: 0o644})
    await writeFile(f(F.anchor), anchor.certPem, {mode: 0o644})
    created = true
  }
  if (!existsSync(f(F.tokenSecret))) {
    await writeFile(f(F.tokenSecret), newLocalTokenSecret() + '\n', {mode: 0o600})
    created = true
  }
  return {
    dir,
    anchorsPem: await readFile(f(existsSync(f(F.bundle)) ? F.bundle : F.anchor), 'utf8'),
    tokenSecret: (await readFile(f(F.tokenSecret), 'utf8')).trim(),
    created,
  }
}
