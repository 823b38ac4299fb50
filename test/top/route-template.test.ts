// Route templates learnt from paths (src/tapclient/route-template.ts): what collapses into
// `{id}`, what stays apart, and hostile input (deep, long, many distinct paths) that must not
// end `mesh top`.
import {randomBytes, randomUUID} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {idSegment, learnTemplates, MAX_DEPTH, MANY_SIBLINGS, staticTemplate} from '../../src/tapclient/route-template.js'

const learn = (paths: string[]): Record<string, string> => Object.fromEntries(learnTemplates(paths.map(staticTemplate)))

describe('route templates', () => {
  it('ids on their own: numbers, UUIDs, long hex, long tokens; the query is dropped', () => {
    expect(staticTemplate('/books/42?x=1')).toBe('/books/{id}')
    expect(staticTemplate(`/u/${randomUUID()}/cart`)).toBe('/u/{id}/cart')
    expect(staticTemplate('/blob/0a1b2c3d4e5f')).toBe('/blob/{id}')
    expect(staticTemplate(`/t/${randomBytes(18).toString('base64url')}1a`)).toBe('/t/{id}')
    expect(staticTemplate('/')).toBe('/')
    expect(staticTemplate('')).toBe('/')
    for (const word of ['books', 'v1', 'api', 'b1', 'deadbeefcafe', 'war-and-peace', 'healthz']) expect(idSegment(word), word).toBe(false)
  })

  it('learns an id position from three distinct digit-bearing siblings, with what follows it', () => {
    expect(learn(['/books/b1', '/books/b2', '/books/b3', '/books', '/books/b4/reviews', '/books/b5/reviews'])).toEqual({
      '/books/b1': '/books/{id}', '/books/b2': '/books/{id}', '/books/b3': '/books/{id}', '/books': '/books',
      '/books/b4/reviews': '/books/{id}/reviews', '/books/b5/reviews': '/books/{id}/reviews',
    })
  })

  it('keeps two digit-bearing siblings and a few fixed names apart (v1 and v2 are versions, not ids)', () => {
    const paths = ['/api/v1/books', '/api/v2/books', '/api/books', '/api/authors', '/api/stock', '/healthz']
    expect(Object.values(learn(paths))).toEqual(paths)
  })

  it('slugs: more than MANY_SIBLINGS distinct names after one prefix are ids', () => {
    const slugs = Array.from({length: MANY_SIBLINGS + 1}, (_, i) => `/posts/${'abcdefghijklmnopqrstuvwxyz'[i % 26]}-title-${'xyz'[i % 3]}${String.fromCharCode(97 + (i % 26))}`)
    const t = learn([...new Set(slugs)])
    expect(new Set(Object.values(t))).toEqual(new Set(['/posts/{id}']))
    expect(Object.values(learn(slugs.slice(0, 5)))).toEqual(slugs.slice(0, 5))
  })

  it('a static id and one learnt one under the same prefix fold together', () => {
    expect(learn(['/books/42', '/books/b1'])).toEqual({'/books/{id}': '/books/{id}', '/books/b1': '/books/{id}'})
  })

  it('hostile input: a path deeper than the stack, very long segments, 20,000 distinct paths', () => {
    const deep = '/x'.repeat(30_000)
    const t = learnTemplates([deep])
    expect(t.get(deep)).toBe(deep)
    expect(deep.split('/').length).toBeGreaterThan(MAX_DEPTH)
    const long = `/a/${'b'.repeat(60_000)}`
    expect(staticTemplate(long)).toBe(long)
    const many = Array.from({length: 20_000}, (_, i) => `/items/item-${i}x/detail`)
    const learnt = learnTemplates(many)
    expect(new Set(learnt.values())).toEqual(new Set(['/items/{id}/detail']))
  })
})
