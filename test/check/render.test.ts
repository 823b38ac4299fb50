import {Chalk} from 'chalk'
import {describe, expect, it} from 'vitest'
import {renderJson, renderReport, renderText} from '../../src/check/render/index.js'
import type {CheckReport} from '../../src/check/report.js'
import {exitCodeFor} from '../../src/check/report.js'
import {schemaProblems} from './schema.js'

const plain = new Chalk({level: 0})

const mixed: CheckReport = {
  success: false,
  categories: [
    {
      categoryName: 'kubernetes-api',
      checks: [{id: 'MESH1001', description: 'can initialize the client', hint: 'fix the kubeconfig', error: '', result: 'success'}],
    },
    {
      categoryName: 'mesh-identity',
      checks: [
        {id: 'MESH2101', description: 'trust anchors are valid', hint: 'rotate', error: '', result: 'success'},
        {id: 'MESH2102', description: 'trust anchors are not expiring soon', hint: 'plan a rotation', error: 'expires in 3 days', result: 'warning'},
        {id: 'MESH2105', description: 'issuer certificate is issued by the trust anchors', hint: 're-issue it', error: 'foreign issuer', result: 'error'},
      ],
    },
  ],
}

describe('table renderer', () => {
  it('prints every category and check with √ ‼ ×, the error and the hint under what is not green, and the verdict', () => {
    expect(renderText(mixed, {color: plain})).toBe(
      [
        'kubernetes-api',
        '--------------',
        '√ can initialize the client',
        '',
        'mesh-identity',
        '-------------',
        '√ trust anchors are valid',
        '‼ trust anchors are not expiring soon',
        '    expires in 3 days',
        '    see MESH2102: plan a rotation',
        '× issuer certificate is issued by the trust anchors',
        '    foreign issuer',
        '    see MESH2105: re-issue it',
        '',
        'Status check results are ×',
        '',
      ].join('\n'),
    )
  })

  it('the verdict is √ when all pass and ‼ when only warnings fail', () => {
    const green: CheckReport = {success: true, categories: [mixed.categories[0]!]}
    expect(renderText(green, {color: plain}).endsWith('Status check results are √\n')).toBe(true)
    const warned: CheckReport = {success: true, categories: [{categoryName: 'x', checks: [mixed.categories[1]!.checks[1]!]}]}
    expect(renderText(warned, {color: plain}).endsWith('Status check results are ‼\n')).toBe(true)
  })

  it('colours only when asked', () => {
    const colored = renderText(mixed, {color: new Chalk({level: 1})})
    expect(colored).toContain('\x1b[31m×\x1b[39m')
    expect(renderText(mixed, {color: plain})).not.toContain('\x1b[')
  })
})

describe('short renderer', () => {
  it('prints only what is not green, under its category, and the verdict', () => {
    expect(renderReport(mixed, 'short', plain)).toBe(
      [
        'mesh-identity',
        '-------------',
        '‼ trust anchors are not expiring soon',
        '    expires in 3 days',
        '    see MESH2102: plan a rotation',
        '× issuer certificate is issued by the trust anchors',
        '    foreign issuer',
        '    see MESH2105: re-issue it',
        '',
        'Status check results are ×',
        '',
      ].join('\n'),
    )
  })

  it('prints only the verdict when everything passed', () => {
    expect(renderReport({success: true, categories: [mixed.categories[0]!]}, 'short', plain)).toBe('Status check results are √\n')
  })
})

describe('json renderer', () => {
  it('prints the documented shape, which validates against schema.json', () => {
    const doc = JSON.parse(renderJson(mixed)) as unknown
    expect(schemaProblems(doc)).toEqual([])
    expect(doc).toEqual(mixed)
    expect(Object.keys((doc as CheckReport).categories[1]!.checks[0]!)).toEqual(['id', 'description', 'hint', 'error', 'result'])
  })

  it('the schema rejects documents that break the contract', () => {
    expect(schemaProblems({categories: []})).toEqual(['$: missing success'])
    expect(schemaProblems({success: true, categories: [{categoryName: 'x', checks: [{id: 'X1', description: 'd', hint: 'h', error: '', result: 'ok'}]}]})).toEqual([
      '$.categories[0].checks[0].id: "X1" does not match ^MESH[0-9]{4}$',
      '$.categories[0].checks[0].result: "ok" is not one of ["success","warning","error"]',
    ])
    expect(schemaProblems({success: 'yes', categories: [], extra: 1})).toEqual(['$.success: expected boolean, got string', '$: unexpected property extra'])
  })
})

describe('exit code', () => {
  it('is 1 when any non-warning check failed, else 0', () => {
    expect(exitCodeFor(mixed)).toBe(1)
    expect(exitCodeFor({success: true, categories: []})).toBe(0)
  })
})
