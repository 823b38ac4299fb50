// `mesh explain` reads a proxy's GET /errors (src/protocol/proxy-admin.ts) through the API
// server: what comes back is not trusted. parseErrorsReport takes well-formed reports (entries
// newest first, times normalised), refuses anything else with an Error naming the problem
// (never another exception), and nothing it returns can move a terminal's cursor or colour it.
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {parseErrorsReport} from '../../src/diagnostics/explain.js'
import {ERRORS_REPORT_MAX_BYTES, ERRORS_RING_SIZE} from '../../src/protocol/proxy-admin.js'

const entry = fc.record({
  time: fc.date({min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true}).map((d) => d.toISOString()),
  direction: fc.constantFrom('inbound', 'outbound'),
  peer: fc.string({maxLength: 100}),
  kind: fc.string({maxLength: 64}),
  message: fc.string({maxLength: 300}),
  authority: fc.option(fc.string({maxLength: 100}), {nil: undefined}),
}, {requiredKeys: ['time', 'direction', 'peer', 'kind', 'message']})

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

describe('parseErrorsReport', () => {
  it('keeps every entry of a well-formed report, newest first, with nothing a terminal would interpret', () => {
    fc.assert(fc.property(fc.array(entry, {maxLength: ERRORS_RING_SIZE}), (errors) => {
      const got = parseErrorsReport(JSON.stringify({version: 1, errors}))
      expect(got).toHaveLength(errors.length)
      const times = got.map((e) => Date.parse(e.time))
      expect(times).toEqual([...times].sort((a, b) => b - a))
      expect(got.map((e) => e.time).sort()).toEqual(errors.map((e) => new Date(e.time).toISOString()).sort())
      for (const e of got) for (const v of [e.peer, e.kind, e.message, e.authority ?? '']) expect(v).not.toMatch(CONTROL)
    }))
  })

  it('replaces escape sequences and bidirectional overrides in what the proxy wrote', () => {
    const [e] = parseErrorsReport(JSON.stringify({version: 1, errors: [{time: '2026-01-01T00:00:00Z', direction: 'inbound', peer: '\u001b[2Jweb', kind: 'x\u202e', message: 'a\r\nb\u0007'}]}))
    expect(e).toEqual({time: '2026-01-01T00:00:00.000Z', direction: 'inbound', peer: '\uFFFD[2Jweb', kind: 'x\uFFFD', message: 'a\uFFFD\uFFFDb\uFFFD'})
  })

  it.each([
    ['', 'not JSON'],
    ['{"version":1,"errors":[', 'not JSON'],
    ['[]', 'not a JSON object'],
    ['null', 'not a JSON object'],
    ['{"version":2,"errors":[]}', 'version 2 is not 1'],
    ['{"version":1}', `errors must be a list of at most ${ERRORS_RING_SIZE}`],
    ['{"version":1,"errors":"abc"}', `errors must be a list of at most ${ERRORS_RING_SIZE}`],
    [JSON.stringify({version: 1, errors: Array(ERRORS_RING_SIZE + 1).fill(0)}), `errors must be a list of at most ${ERRORS_RING_SIZE}`],
    ['{"version":1,"errors":[null]}', 'errors[0] is not an object'],
    ['{"version":1,"errors":[{"time":"yesterday","direction":"inbound","peer":"p","kind":"k","message":"m"}]}', 'errors[0].time is not a date'],
    ['{"version":1,"errors":[{"time":5,"direction":"inbound","peer":"p","kind":"k","message":"m"}]}', 'errors[0].time is not a date'],
    ['{"version":1,"errors":[{"time":"2026-01-01T00:00:00Z","direction":"sideways","peer":"p","kind":"k","message":"m"}]}', 'errors[0].direction must be inbound or outbound'],
    ['{"version":1,"errors":[{"time":"2026-01-01T00:00:00Z","direction":"inbound","peer":{},"kind":"k","message":"m"}]}', 'errors[0].peer must be a string'],
    [JSON.stringify({version: 1, errors: [{time: '2026-01-01T00:00:00Z', direction: 'inbound', peer: 'p', kind: 'k', message: 'm'.repeat(1025)}]}), 'errors[0].message must be a string of at most 1024'],
    ['{"version":1,"errors":[{"time":"2026-01-01T00:00:00Z","direction":"inbound","peer":"p","kind":"k","message":"m","authority":7}]}', 'errors[0].authority must be a string'],
    ['x'.repeat(ERRORS_REPORT_MAX_BYTES + 1), `larger than ${ERRORS_REPORT_MAX_BYTES} bytes`],
  ])('refuses %#: %s', (body, problem) => {
    expect(() => parseErrorsReport(body)).toThrow(problem)
  })

  it('any text at all: a report or an Error, never another exception', () => {
    const anyJson = fc.oneof(fc.string(), fc.json(), fc.anything().map((v) => JSON.stringify({version: 1, errors: [v]}) ?? ''))
    fc.assert(fc.property(anyJson, (body) => {
      try {
        parseErrorsReport(body)
      } catch (error) {
        expect(error).toBeInstanceOf(Error)
        expect(error).not.toBeInstanceOf(TypeError)
      }
    }), {numRuns: 2000})
  })
})
