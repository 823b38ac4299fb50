// Signs node-forge certificates with Node's native RSA instead of forge's pure-JS bignums.
// forge's `cert.sign(key, md)` only calls `key.sign(md)` and expects the RSASSA-PKCS1-v1_5
// signature as a binary string; PKCS#1 v1.5 signing is "RSA private-encrypt of DigestInfo",
// which crypto.privateEncrypt does natively. Measured in bench/tls-keys.ts.
import {constants, createPrivateKey, privateEncrypt, type KeyObject} from 'node:crypto'
import type forge from 'node-forge'

// DER prefix of DigestInfo{ AlgorithmIdentifier{sha256, NULL}, OCTET STRING(32) } (RFC 8017 9.2).
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex')

export interface ForgeSigner {
  sign(md: forge.md.MessageDigest): string
}

/** A forge-compatible signer backed by Node's crypto; sha256 only. */
export function nativeSigner(keyPem: string | KeyObject): ForgeSigner {
  const key = typeof keyPem === 'string' ? createPrivateKey(keyPem) : keyPem
  return {
    sign(md) {
      if (md.algorithm !== 'sha256') throw new Error(`nativeSigner supports sha256 only, not ${md.algorithm}`)
      const digest = Buffer.from(md.digest().getBytes(), 'binary')
      const sig = privateEncrypt({key, padding: constants.RSA_PKCS1_PADDING}, Buffer.concat([SHA256_DIGEST_INFO, digest]))
      return sig.toString('binary')
    },
  }
}
