// The shared cases in tests/cases/*.json (format in its README), run through the Node API. The
// Rust (core/tests/shared_cases.rs) and Python suites read the same files.
import { readFileSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer, passgate, tamper } from './helpers.mjs'

const CASES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'cases')
const read = (p) => JSON.parse(readFileSync(p, 'utf8'))

/** Passport options from a case's snake_case spec. */
function passportOptions(spec) {
  const out = {}
  const names = { agent_id: 'agentId', agent_name: 'agentName', permissions: 'permissions', expires_in_days: 'expiresInDays', caveats: 'caveats' }
  for (const [k, v] of Object.entries(spec)) {
    if (['name', 'expect', 'op', 'parent', 'issuer'].includes(k)) continue
    assert.ok(names[k], `unknown passport field ${k}`)
    out[names[k]] = v
  }
  return out
}

/** A result's value under a case's snake_case key (decisions use camelCase for their own keys). */
const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
const field = (got, k) => (k in got ? got[k] : got[camel(k)])

/** Replaces every string "$NAME.key" by the `key` of the result saved as NAME. */
function resolve(v, saved, at) {
  if (typeof v === 'string' && v.startsWith('$')) {
    const [name, key] = v.slice(1).split('.', 2)
    assert.ok(saved.has(name), `${at}: nothing saved as ${name}`)
    return field(saved.get(name), key)
  }
  if (Array.isArray(v)) return v.map((x) => resolve(x, saved, at))
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x, saved, at)]))
  return v
}

function runCase(file) {
  const c = read(join(CASES, file))
  const policy = typeof c.policy === 'string' ? read(join(CASES, c.policy)) : c.policy
  const trusted = Issuer.generate()
  const untrusted = Issuer.generate()
  const engine = new Engine({ policy, trustedIssuers: [trusted.did] })
  const passports = new Map()
  const issue = (name, spec) => {
    const opts = passportOptions(spec)
    const p = spec.parent
      ? passports.get(spec.parent).issueSubPassport(opts)
      : (spec.issuer === 'untrusted' ? untrusted : trusted).issuePassport(opts)
    passports.set(name, p)
  }
  const token = (name) => {
    if (name == null) return null
    if (name.startsWith('tampered:')) return tamper(passports.get(name.slice(9)).token)
    return passports.get(name).token
  }
  for (const [name, spec] of Object.entries(c.passports ?? {})) issue(name, spec)
  const saved = new Map()
  c.steps.forEach((raw, i) => {
    const at = `${file} step ${i}`
    const step = resolve(raw, saved, at)
    const expect = step.expect ?? {}
    let result
    let error
    try {
      switch (step.op) {
        case 'enforce':
        case 'dry_run': {
          const req = { gate: step.gate, payload: step.payload ?? {}, passport: token(step.passport) }
          if ('idempotency_key' in step) req.idempotencyKey = step.idempotency_key
          if ('client' in step) req.client = step.client
          if ('hold' in step) req.hold = step.hold
          if ('approval' in step) req.approval = step.approval
          result = step.op === 'enforce' ? engine.enforce(req) : engine.dryRun(req)
          break
        }
        case 'settle':
          result = engine.settle(step.hold_id, step.actual)
          break
        case 'release':
          result = engine.release(step.hold_id)
          break
        case 'approve':
          result = { approval: engine.approve(step.evaluation_id, step.approver, step.ttl) }
          break
        case 'deny_approval':
          result = engine.denyApproval(step.evaluation_id, step.approver, step.reason ?? '')
          break
        case 'allowed_gates':
          result = { gates: engine.allowedGates(token(step.passport)) }
          break
        case 'revoke':
          engine.revokePassport(passports.get(step.passport).passportId)
          break
        case 'verify_passport':
          result = engine.verifyPassport(token(step.passport))
          break
        case 'issue':
          issue(step.name, step)
          break
        default:
          assert.fail(`${at}: unknown op ${step.op}`)
      }
    } catch (e) {
      error = e
    }
    if ('error' in expect) {
      assert.ok(error, `${at}: expected error ${expect.error}, got ${JSON.stringify(result)}`)
      assert.equal(error.code, expect.error, `${at}: ${error.message}`)
      assert.ok(error instanceof passgate.PassgateError)
      return
    }
    if (error) throw new Error(`${at}: unexpected error ${error.code}: ${error.message}`, { cause: error })
    checkExpectations(at, expect, result)
    if (step.save) saved.set(step.save, result)
  })
  const records = engine.attestations()
  assert.equal(passgate.verifyChain(records, engine.signerDid), true)
}

function checkExpectations(at, expect, got) {
  const show = () => JSON.stringify(got, null, 1)
  for (const [k, want] of Object.entries(expect)) {
    switch (k) {
      case 'failed':
        assert.deepEqual(got.checks.filter((c) => !c.passed).map((c) => c.constraint), want, `${at}: failed checks in ${show()}`)
        break
      case 'passed':
        for (const id of want) {
          assert.ok(got.checks.find((c) => c.constraint === id)?.passed, `${at}: ${id} must pass in ${show()}`)
        }
        break
      case 'codes':
        for (const [id, code] of Object.entries(want)) {
          assert.equal(got.checks.find((c) => c.constraint === id)?.code, code, `${at}: code of ${id} in ${show()}`)
        }
        break
      case 'remaining':
        for (const [id, left] of Object.entries(want)) {
          assert.equal(got.remaining[id], left, `${at}: remaining ${id} in ${show()}`)
        }
        break
      case 'has':
        for (const key of want) assert.ok(field(got, key) != null, `${at}: ${key} missing in ${show()}`)
        break
      default:
        // Anything else must be equal as JSON.
        assert.deepEqual(field(got, k) ?? null, want, `${at}: ${k} in ${show()}`)
    }
  }
}

const files = readdirSync(CASES).filter((f) => f.endsWith('.json')).sort()

test('the shared cases are there', () => {
  assert.ok(files.length >= 8, `only ${files.length} cases found`)
})

for (const file of files) {
  test(`shared case ${file}`, () => runCase(file))
}
