// Shared by the install tests: the fixture identity (a trust anchor and issuer valid until
// 2124, committed so golden output is stable) and golden-file comparison.
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {expect} from 'vitest'
import {loadIssuer, type IssuerSource} from '../../src/control/identity/issuer.js'

const here = path.dirname(fileURLToPath(import.meta.url))
export const FIXTURES = path.join(here, 'fixtures')
export const GOLDEN = path.join(here, 'golden')

export const identityArgs = (dir = 'identity', issuer = 'issuer'): string[] => [
  '--identity-trust-anchors-file', path.join(FIXTURES, dir, 'ca.crt'),
  '--identity-issuer-certificate-file', path.join(FIXTURES, dir === 'identity' ? 'identity' : dir, `${issuer}.crt`),
  '--identity-issuer-key-file', path.join(FIXTURES, dir === 'identity' ? 'identity' : dir, `${issuer}.key`),
]

export const fixture = (...p: string[]): string => path.join(FIXTURES, ...p)

/** Compares with test/install/golden/<name>; UPDATE_GOLDEN=1 rewrites it (review the diff). */
export function expectGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name)
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden file ${file} is missing: run with UPDATE_GOLDEN=1 and review it`)
    mkdirSync(GOLDEN, {recursive: true})
    writeFileSync(file, actual)
    return
  }
  expect(actual).toBe(readFileSync(file, 'utf8'))
}

/** The fixture trust anchors and an issuer source serving the fixture issuer (for the injector's serving certificate). */
export function fixtureIssuer(): {anchorsPem: string, issuer: IssuerSource} {
  const anchorsPem = readFileSync(fixture('identity', 'ca.crt'), 'utf8')
  const state = loadIssuer({
    anchorsPem,
    issuerCertPem: readFileSync(fixture('identity', 'issuer.crt'), 'utf8'),
    issuerKeyPem: readFileSync(fixture('identity', 'issuer.key'), 'utf8'),
    source: 'fixtures',
  })
  return {anchorsPem, issuer: {start: async () => {}, current: () => state, onChange: () => () => {}, stop: async () => {}}}
}
