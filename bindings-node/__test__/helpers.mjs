// Shared test helpers: the package under test, a small policy, hand-made tokens.
import { createPrivateKey, sign } from 'node:crypto'
import assert from 'node:assert/strict'

import passgate from '../passgate.js'

export { passgate }
export const { Engine, Issuer, IssuedPassport } = passgate

export const PAY_POLICY = {
  version: 1,
  gates: {
    pay: {
      require: ['pay'],
      constraints: [
        { id: 'per-call', type: 'max_value', field: '/amount', max: 500 },
        { id: 'cap', type: 'spend_limit', field: '/amount', max: 1000, window: '1d' },
      ],
    },
  },
}

/** An issuer, a passport for agent `a` with `pay`, and an engine trusting the issuer. */
export function setup(policy = PAY_POLICY, engineOptions = {}) {
  const issuer = Issuer.generate()
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['pay'] })
  const engine = new Engine({ policy, trustedIssuers: [issuer.did], ...engineOptions })
  return { issuer, passport, engine }
}

export const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url')

/** A compact JWS signed by `issuer` with node:crypto: a token made outside passgate. */
export function signToken(issuer, claims, header = { alg: 'EdDSA', typ: 'passport+jwt', kid: issuer.did }) {
  const jwk = { ...issuer.publicJwk, d: issuer.secret }
  const key = createPrivateKey({ key: jwk, format: 'jwk' })
  const input = `${b64u(header)}.${b64u(claims)}`
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`
}

/** Claims of a valid passport for agent `a`, at `now` seconds. */
export function claims(issuer, now = Math.floor(Date.now() / 1000), extra = {}) {
  const agent = Issuer.generate()
  return {
    iss: issuer.did,
    sub: 'a',
    jti: 'psp_' + 'a'.repeat(26),
    iat: now,
    nbf: now,
    exp: now + 3600,
    perms: ['pay'],
    cnf: { jwk: agent.publicJwk },
    ...extra,
  }
}

/** The token with one signature character changed. */
export function tamper(token) {
  const last = token.at(-1)
  return token.slice(0, -1) + (last === 'A' ? 'Q' : 'A')
}

/** Asserts `fn` throws an error with `.code` `code`; returns the error. */
export function throwsCode(fn, code) {
  let caught
  assert.throws(fn, (e) => {
    caught = e
    return true
  })
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`)
  assert.ok(caught instanceof Error)
  return caught
}

/** Asserts the promise rejects with `.code` `code`. */
export async function rejectsCode(promise, code) {
  let caught
  await assert.rejects(promise, (e) => {
    caught = e
    return true
  })
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`)
  return caught
}
