import {readFileSync} from 'node:fs'
import {validate} from './json-schema.js'

export const checkSchema = JSON.parse(readFileSync(new URL('../../src/check/schema.json', import.meta.url), 'utf8')) as Parameters<typeof validate>[0]

/** Problems of a `mesh check -o json` document against src/check/schema.json. */
export function schemaProblems(doc: unknown): string[] {
  return validate(checkSchema, doc)
}
