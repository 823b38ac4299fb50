// Golden fixture sets under test/fixtures/inject: `<name>.input.yaml` (or `.input.json`),
// `<name>.golden.yaml` (or `.golden.json`) and `<name>.report` (stderr, then `exit <code>`).
// The first line of each input is the command: `# mesh inject <flags>`; ANCHORS stands for
// the fixture trust anchors. UPDATE_GOLDEN=1 rewrites the goldens from the current output.
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {parseAllDocuments} from 'yaml'
import {meshVersion} from '../../src/lib/version.js'
import {ROOT} from '../helpers/run.js'

export const FIXTURES = join(ROOT, 'test/fixtures/inject')
export const ANCHORS = relative(ROOT, join(FIXTURES, 'trust-anchors.pem'))
export const UPDATE = process.env.UPDATE_GOLDEN === '1'

export interface Fixture {
  name: string
  inputPath: string
  /** Relative to the repository root, as the report names it. */
  inputRel: string
  goldenPath: string
  reportPath: string
  args: string[]
  input: string
}

export function loadFixtures(): Fixture[] {
  return readdirSync(FIXTURES)
    .filter((f) => /\.input\.(ya?ml|json)$/.test(f))
    .sort()
    .map((file) => {
      const name = file.replace(/\.input\.(ya?ml|json)$/, '')
      const inputPath = join(FIXTURES, file)
      const input = readFileSync(inputPath, 'utf8')
      const header = /^# mesh (.*)$/m.exec(input.split('\n')[0])
      const args = header ? header[1].split(/\s+/).map((a) => (a === 'ANCHORS' ? ANCHORS : a)) : ['inject', '--ignore-cluster', '--identity-trust-anchors-file', ANCHORS]
      const json = file.endsWith('.json') || args.includes('json')
      return {
        name, inputPath, input, args,
        inputRel: relative(ROOT, inputPath),
        goldenPath: join(FIXTURES, `${name}.golden.${json ? 'json' : 'yaml'}`),
        reportPath: join(FIXTURES, `${name}.report`),
      }
    })
}

/** Version-independent text: the CLI version becomes VERSION. */
export function normalize(text: string): string {
  return text.replaceAll(meshVersion(), 'VERSION')
}

export function denormalize(text: string): string {
  return text.replaceAll('VERSION', meshVersion())
}

export function readGolden(path: string, actual: string): string {
  if (UPDATE || !existsSync(path)) {
    if (!UPDATE) throw new Error(`missing golden ${path}: run with UPDATE_GOLDEN=1 and review the diff`)
    writeFileSync(path, normalize(actual))
  }
  return denormalize(readFileSync(path, 'utf8'))
}

/** The values of a YAML (1.1) or JSON stream, for semantic comparison. */
export function values(text: string): unknown[] {
  return parseAllDocuments(text, {version: '1.1'} as never)
    .map((d) => d.toJS() as unknown)
    .filter((v) => v !== null && v !== undefined)
}
