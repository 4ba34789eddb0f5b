// The operation contract (issue 15): every core operation in `operations()` is reachable from
// Node under its camelCase name, declared in the .d.ts with the operation's argument names
// (modulo case), and answers with the core's result keys (camelCased). An operation missing from
// the table below fails: wiring a new one means adding its sample call here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

import { passgate, Engine, Issuer } from './helpers.mjs'

const camel = (k) => k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())

/** Each operation's argument names: the properties of its `input_schema` (the core's description). */
const DESCRIBED = new Map(passgate.describeOperations().map((d) => [d.name, d]))
function argNames(op) {
  const d = DESCRIBED.get(op)
  assert.ok(d, `${op}: not described by the core`)
  return Object.keys(d.input_schema?.properties ?? {})
}

/** Parameters whose properties are the operation's arguments (an options object). */
const OPTION_PARAMS = new Set(['request', 'filter', 'page', 'options'])

/** `Engine`'s methods as the .d.ts declare them: name -> the argument names they take. */
function declaredMethods() {
  const file = fileURLToPath(new URL('../passgate.d.ts', import.meta.url))
  const program = ts.createProgram([file], { strict: true, noEmit: true, types: [] })
  const checker = program.getTypeChecker()
  const out = new Map()
  const visit = (node) => {
    const inEngine = (ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node)) && node.name?.text === 'Engine'
    if (inEngine) {
      for (const m of node.members) {
        if (!ts.isMethodDeclaration(m) && !ts.isMethodSignature(m)) continue
        const names = []
        for (const p of m.parameters) {
          const name = p.name.getText()
          if (!OPTION_PARAMS.has(name)) {
            names.push(name)
            continue
          }
          const type = checker.getNonNullableType(checker.getTypeAtLocation(p))
          for (const prop of checker.getPropertiesOfType(type)) names.push(prop.name)
        }
        out.set(m.name.getText(), names)
      }
    }
    ts.forEachChild(node, visit)
  }
  for (const sf of program.getSourceFiles()) {
    if (sf.fileName.includes('node_modules')) continue
    visit(sf)
  }
  return out
}

const POLICY = {
  version: 1,
  gates: {
    llm: { require: ['llm'], constraints: [{ id: 'budget', type: 'spend_limit', field: '/cost', max: 100, window: '1d' }] },
    wire: { require: ['wire'], constraints: [{ id: 'big', type: 'approval', when: { field: '/amount', op: 'gt', value: 1000 } }] },
  },
  anonymous: { gates: ['llm'] },
}

const CATALOG = (amount) => ({ gate: 'llm', trust_level: 'L1', offers: [{ permission: 'llm', price: { amount, currency: 'USD' }, pricing: { model: 'per_call' } }] })

function world() {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['llm', 'wire'] })
  const hold = () => engine.enforce({ gate: 'llm', passport, payload: { cost: 1 }, hold: true }).holdId
  const escalation = () => engine.enforce({ gate: 'wire', passport, payload: { amount: 5000 } }).evaluationId
  engine.enforce({ gate: 'llm', passport, payload: { cost: 2 } })
  engine.enforce({ gate: 'llm', payload: { cost: 1 } })
  const event = () => { escalation(); return engine.events({ limit: 1000 }).events.at(-1).id }
  const published = () => {
    if (engine.listCatalogVersions({ gate: 'llm' }).versions.length === 0) {
      engine.createCatalog({ gate: 'llm', catalog: CATALOG(100) })
      engine.publishCatalog({ gate: 'llm' })
    }
    return 'llm'
  }
  const consumable = () => { published(); return engine.enforce({ gate: 'llm', passport, payload: { cost: 1 } }).evaluationId }
  const settlement = () => {
    engine.issueConsumptionAttestation({ evaluationId: consumable(), outcome: 'success' })
    return engine.generateSettlement({ from: 0, to: 4e12 }).settlementId
  }
  return { issuer, engine, passport, hold, escalation, event, published, consumable, settlement }
}

/** The tree size of a signed checkpoint of the world's chain. */
const head = (w) => w.engine.checkpoint().body.data.tree_size
const dir = mkdtempSync(join(tmpdir(), 'passgate-contract-'))
let exports = 0

/**
 * A sample call per operation: `typed(w)` through the typed method, `args(w)` the same call's
 * arguments for the generic entry point, and how the typed method shapes the core's result:
 * `camel` (top-level keys camelCased), `field:<key>` (the value under the key), `count:<key>`,
 * `string:<key>`, `void`, `passport` (an `IssuedPassport`), `as-is`.
 */
const CALLS = {
  enforce: { typed: (w) => w.engine.enforce({ gate: 'llm', passport: w.passport, payload: { cost: 1 }, notify: 'ops' }), args: (w) => ({ gate: 'llm', passport: w.passport.token, payload: { cost: 1 }, notify: 'ops' }), shape: 'camel' },
  dry_run: { typed: (w) => w.engine.dryRun({ gate: 'llm', payload: {} }), args: () => ({ gate: 'llm', payload: {} }), shape: 'camel' },
  verify_passport: { typed: (w) => w.engine.verifyPassport(w.passport), args: (w) => ({ passport: w.passport.token }), shape: 'as-is' },
  revoke_passport: { typed: (w) => w.engine.revokePassport('psp_' + 'x'.repeat(26)), args: () => ({ passport_id: 'psp_' + 'y'.repeat(26) }), shape: 'void' },
  reissue: { typed: (w) => w.engine.reissue(w.passport, w.issuer, 2), args: (w) => ({ passport: w.issuer.issuePassport({ agentId: 'b' }).token, issuer_secret: w.issuer.secret, expires_in_days: 2 }), shape: 'passport' },
  issue_passport: { typed: (w) => w.engine.issuePassport({ issuerSecret: w.issuer.secret, agentId: 'c', permissions: ['llm'] }), args: (w) => ({ issuer_secret: w.issuer.secret, agent_id: 'c', permissions: ['llm'] }), shape: 'camel' },
  cumulative_state: { typed: (w) => w.engine.cumulativeState({ gate: 'llm', agentId: 'a' }), args: () => ({ gate: 'llm', agent_id: 'a' }), shape: 'field:counters' },
  cumulative_state_page: { typed: (w) => w.engine.cumulativeStatePage({ gate: 'llm' }, { limit: 5 }), args: () => ({ gate: 'llm', limit: 5 }), shape: 'camel' },
  reset_cumulative_state: { typed: (w) => w.engine.resetCumulativeState({ gate: 'nope' }), args: () => ({ gate: 'nope' }), shape: 'count:reset' },
  attestations: { typed: (w) => w.engine.attestations({ gate: 'llm', limit: 5 }), args: () => ({ gate: 'llm', limit: 5 }), shape: 'field:attestations' },
  anonymous_log: { typed: (w) => w.engine.anonymousLog(), args: () => ({}), shape: 'field:attestations' },
  record_attestation: { typed: (w) => w.engine.recordAttestation('host.note', { n: 1 }), args: () => ({ kind: 'host.note', data: { n: 2 } }), shape: 'as-is' },
  set_policy: { typed: (w) => w.engine.setPolicy(POLICY), args: () => ({ policy: POLICY }), shape: 'string:policy_hash' },
  list_gates: { typed: (w) => w.engine.listGates(), args: () => ({}), shape: 'field:gates' },
  upsert_gate: { typed: (w) => w.engine.upsertGate('scratch', { require: ['llm'] }), args: () => ({ gate: 'scratch2', definition: {} }), shape: 'camel' },
  delete_gate: { typed: (w) => { w.engine.upsertGate('tmp', {}); return w.engine.deleteGate('tmp') }, args: (w) => { w.engine.upsertGate('tmp2', {}); return { gate: 'tmp2' } }, shape: 'camel' },
  set_gate_constraints: { typed: (w) => w.engine.setGateConstraints('llm', [{ type: 'rate_limit', max: 5, window: '1h' }]), args: () => ({ gate: 'llm', constraints: [{ type: 'rate_limit', max: 6, window: '1h' }] }), shape: 'camel' },
  set_anonymous_policy: { typed: (w) => w.engine.setAnonymousPolicy({ gates: [] }), args: () => ({ anonymous: { gates: ['wire'] } }), shape: 'camel' },
  create_gate: { typed: (w) => w.engine.createGate('c1', {}), args: () => ({ gate: 'c2', definition: {} }), shape: 'camel' },
  update_gate: { typed: (w) => w.engine.updateGate('llm', { require: ['llm'] }), args: () => ({ gate: 'wire', definition: { require: ['wire'] } }), shape: 'camel' },
  upsert_template: { typed: (w) => w.engine.upsertTemplate('t', { params: { max: { type: 'number' } }, constraints: [{ id: 'c', type: 'max_value', field: '/cost', max: '$max' }] }), args: () => ({ template: 't2', definition: { params: { max: { type: 'number' } }, constraints: [{ id: 'c', type: 'max_value', field: '/cost', max: '$max' }] } }), shape: 'camel' },
  apply_template: {
    typed: (w) => { w.engine.upsertTemplate('t', { params: { max: { type: 'number' } }, constraints: [{ id: 'c', type: 'max_value', field: '/cost', max: '$max' }] }); return w.engine.applyTemplate('llm', 't', { max: 5 }) },
    args: (w) => { w.engine.upsertTemplate('t', { params: { max: { type: 'number' } }, constraints: [{ id: 'c', type: 'max_value', field: '/cost', max: '$max' }] }); return { gate: 'llm', template: 't', params: { max: 6 } } },
    shape: 'camel',
  },
  get_constraints: { typed: (w) => w.engine.getConstraints('llm', w.passport), args: (w) => ({ gate: 'llm', passport: w.passport.token }), shape: 'as-is' },
  anonymous_policy: { typed: (w) => w.engine.anonymousPolicy(), args: () => ({}), shape: 'camel' },
  get_gate: { typed: (w) => w.engine.getGate('llm'), args: () => ({ gate: 'llm' }), shape: 'as-is' },
  constraint_types: { typed: (w) => w.engine.constraintTypes(), args: () => ({}), shape: 'as-is' },
  templates: { typed: (w) => w.engine.templates(), args: () => ({}), shape: 'as-is' },
  verify_attestation: { typed: (w) => w.engine.verifyAttestation({ record: w.engine.attestations({ limit: 1 })[0] }), args: (w) => ({ record: w.engine.attestations({ limit: 1 })[0] }), shape: 'camel' },
  verify_chain: { typed: (w) => w.engine.verifyChain({ records: w.engine.attestations({ chain: w.engine.chainId }) }), args: (w) => ({ records: w.engine.attestations({ chain: w.engine.chainId }) }), shape: 'camel' },
  settle: { typed: (w) => w.engine.settle(w.hold(), { cost: 1 }), args: (w) => ({ hold_id: w.hold(), actual: { cost: 1 } }), shape: 'camel' },
  release: { typed: (w) => w.engine.release(w.hold()), args: (w) => ({ hold_id: w.hold() }), shape: 'camel' },
  expire_holds: { typed: (w) => w.engine.expireHolds(10), args: () => ({ limit: 10 }), shape: 'count:expired' },
  prune: { typed: (w) => w.engine.prune(10), args: () => ({ limit: 10 }), shape: 'count:pruned' },
  export_attestations: { typed: (w) => w.engine.exportAttestations(join(dir, `e${exports++}.jsonl`), { since: 0 }), args: () => ({ path: join(dir, `e${exports++}.jsonl`), since: 0 }), shape: 'count:exported' },
  verify_export: {
    typed: (w) => { const p = join(dir, `v${exports++}.jsonl`); w.engine.exportAttestations(p); return w.engine.verifyExport(p, [w.engine.signerDid]) },
    args: (w) => { const p = join(dir, `v${exports++}.jsonl`); w.engine.exportAttestations(p); return { path: p, trusted_signers: [w.engine.signerDid] } },
    shape: 'as-is',
  },
  approve: { typed: (w) => w.engine.approve(w.escalation(), 'cfo', 600), args: (w) => ({ evaluation_id: w.escalation(), approver: 'cfo', ttl: '10m' }), shape: 'string:approval' },
  deny_approval: { typed: (w) => w.engine.denyApproval(w.escalation(), 'cfo', 'no'), args: (w) => ({ evaluation_id: w.escalation(), approver: 'cfo', reason: 'no' }), shape: 'camel' },
  allowed_gates: { typed: (w) => w.engine.allowedGates(w.passport), args: (w) => ({ passport: w.passport.token }), shape: 'field:gates' },
  verify_store: { typed: (w) => w.engine.verifyStore([w.engine.signerDid]), args: (w) => ({ trusted_signers: [w.engine.signerDid] }), shape: 'as-is' },
  chain_head: { typed: (w) => w.engine.chainHead(), args: () => ({}), shape: 'as-is' },
  checkpoint: { typed: (w) => w.engine.checkpoint(), args: () => ({}), shape: 'as-is' },
  inclusion_proof: { typed: (w) => w.engine.inclusionProof({ seq: 1, treeSize: head(w) }), args: (w) => ({ seq: 1, tree_size: head(w) }), shape: 'camel' },
  consistency_proof: { typed: (w) => w.engine.consistencyProof({ oldSize: 1, newSize: head(w) }), args: (w) => ({ old_size: 1, new_size: head(w) }), shape: 'camel' },
  verify_inclusion_proof: {
    typed: (w) => w.engine.verifyInclusionProof({ record: w.engine.attestations({ chain: w.engine.chainId })[0], proof: w.engine.inclusionProof({ seq: 1, treeSize: head(w) }) }),
    args: (w) => ({ record: w.engine.attestations({ chain: w.engine.chainId })[0], proof: w.engine.call('inclusion_proof', { seq: 1, tree_size: head(w) }) }),
    shape: 'camel',
  },
  attestations_page: { typed: (w) => w.engine.attestationsPage({ gate: 'llm' }, { limit: 2 }), args: () => ({ gate: 'llm', limit: 2 }), shape: 'camel' },
  evaluate: { typed: (w) => w.engine.evaluate({ policyName: 'llm', passport: w.passport.token, mcpSessionId: 's', toolCalls: [{ name: 't' }] }), args: (w) => ({ policy_name: 'llm', passport: w.passport.token, mcp_session_id: 's', tool_calls: [{ name: 't' }] }), shape: 'camel' },
  purge_bundle: { typed: (w) => w.engine.purgeBundle(w.escalation()), args: (w) => ({ evaluation_id: w.escalation() }), shape: 'camel' },
  get_evaluation: { typed: (w) => w.engine.getEvaluation({ evaluationId: w.escalation(), passport: w.passport.token }), args: (w) => ({ evaluation_id: w.escalation(), passport: w.passport.token }), shape: 'camel' },
  create_api_key: { typed: (w) => w.engine.createApiKey({ name: 'ci', scopes: ['decide'], expiresIn: '1d' }), args: () => ({ name: 'ci', scopes: ['decide'], expires_in: '1d' }), shape: 'camel' },
  list_api_keys: { typed: (w) => { w.engine.createApiKey({ name: 'a', scopes: ['approve'] }); return w.engine.listApiKeys() }, args: (w) => { w.engine.createApiKey({ name: 'b', scopes: ['approve'] }); return {} }, shape: 'field:keys' },
  revoke_api_key: { typed: (w) => w.engine.revokeApiKey(w.engine.createApiKey({ name: 'a', scopes: ['decide'] }).id), args: (w) => ({ id: w.engine.createApiKey({ name: 'b', scopes: ['decide'] }).id }), shape: 'camel' },
  authenticate_api_key: { typed: (w) => w.engine.authenticateApiKey(w.engine.createApiKey({ name: 'a', scopes: ['decide'] }).secret), args: (w) => ({ secret: w.engine.createApiKey({ name: 'b', scopes: ['decide'] }).secret }), shape: 'camel' },
  get_passport: { typed: (w) => w.engine.getPassport(w.engine.issuePassport({ issuerSecret: w.issuer.secret, agentId: 'g' }).passportId), args: (w) => ({ passport_id: w.engine.issuePassport({ issuerSecret: w.issuer.secret, agentId: 'h' }).passportId }), shape: 'camel' },
  list_passports: { typed: (w) => w.engine.listPassports({ agent: 'a', status: 'active', permission: 'llm', limit: 5 }), args: () => ({ agent: 'a', status: 'active', permission: 'llm', limit: 5 }), shape: 'camel' },
  list_issuers: { typed: (w) => w.engine.listIssuers(), args: () => ({}), shape: 'field:issuers' },
  trust_issuer: { typed: (w) => w.engine.trustIssuer(Issuer.generate().did, { notBefore: 0, notAfter: 4e12 }), args: () => ({ did: Issuer.generate().did, not_before: 0, not_after: 4e12 }), shape: 'camel' },
  untrust_issuer: { typed: (w) => w.engine.untrustIssuer(Issuer.generate().did), args: () => ({ did: Issuer.generate().did }), shape: 'camel' },
  export_trust: { typed: (w) => w.engine.exportTrust(), args: () => ({}), shape: 'as-is' },
  import_trust: { typed: (w) => w.engine.importTrust(w.engine.exportTrust(), w.engine.signerDid), args: (w) => ({ document: w.engine.exportTrust(), signer: w.engine.signerDid }), shape: 'camel' },
  list_my_evaluations: { typed: (w) => w.engine.listMyEvaluations({ passport: w.passport, gate: 'llm' }), args: (w) => ({ passport: w.passport.token, gate: 'llm' }), shape: 'camel' },
  events: { typed: (w) => { w.escalation(); return w.engine.events({ kinds: ['escalation'], limit: 5 }) }, args: (w) => { w.escalation(); return { kinds: ['escalation'], limit: 5 } }, shape: 'camel' },
  sessions: { typed: (w) => w.engine.sessions({ limit: 5 }), args: () => ({ limit: 5 }), shape: 'camel' },
  session: { typed: (w) => w.engine.session({ sessionId: 's' }), args: () => ({ session_id: 's' }), shape: 'camel' },
  ack_event: { typed: (w) => w.engine.ackEvent({ id: w.event() }), args: (w) => ({ id: w.event() }), shape: 'camel' },
  create_catalog: { typed: (w) => w.engine.createCatalog({ gate: 'llm', catalog: CATALOG(1) }), args: () => ({ gate: 'llm', catalog: CATALOG(2) }), shape: 'camel' },
  publish_catalog: {
    typed: (w) => { w.engine.createCatalog({ gate: 'llm', catalog: CATALOG(3) }); return w.engine.publishCatalog({ gate: 'llm', changeSummary: 'v1' }) },
    args: (w) => { w.engine.createCatalog({ gate: 'llm', catalog: CATALOG(4) }); return { gate: 'llm', effective_at: 4e12 } },
    shape: 'camel',
  },
  get_catalog: { typed: (w) => w.engine.getCatalog({ gate: w.published() }), args: (w) => ({ gate: w.published(), version: 1 }), shape: 'camel' },
  get_catalog_version: { typed: (w) => w.engine.getCatalogVersion({ gate: w.published(), version: 1 }), args: (w) => ({ gate: w.published(), version: 1 }), shape: 'camel' },
  list_catalog_versions: { typed: (w) => w.engine.listCatalogVersions({ gate: w.published() }), args: (w) => ({ gate: w.published() }), shape: 'camel' },
  get_catalog_impact: { typed: (w) => w.engine.getCatalogImpact({ gate: w.published(), old: 1, new: 1 }), args: (w) => ({ gate: w.published(), old: 1, new: 1 }), shape: 'camel' },
  discover_services: { typed: (w) => { w.published(); return w.engine.discoverServices({ filter: { currency: 'USD' } }) }, args: (w) => { w.published(); return { filter: { currency: 'USD' } } }, shape: 'camel' },
  verify_catalog: { typed: (w) => w.engine.verifyCatalog({ document: w.engine.getCatalog({ gate: w.published() }).document }), args: (w) => ({ document: w.engine.getCatalog({ gate: w.published() }).document, did: w.engine.signerDid }), shape: 'camel' },
  issue_consumption_attestation: { typed: (w) => w.engine.issueConsumptionAttestation({ evaluationId: w.consumable(), outcome: 'partial', quantity: 2, delivered: 1, latencyMs: 5 }), args: (w) => ({ evaluation_id: w.consumable(), outcome: 'success', permission: 'llm', pop: { p: 1 } }), shape: 'as-is' },
  generate_settlement: { typed: (w) => { w.settlement(); return w.engine.generateSettlement({ from: 0, to: 4e12, payee: w.engine.signerDid }) }, args: (w) => ({ from: 0, to: 4e12, payer: { issuer: w.issuer.did, agent_id: 'a' } }), shape: 'camel' },
  get_settlement: { typed: (w) => w.engine.getSettlement({ settlementId: w.settlement() }), args: (w) => ({ settlement_id: w.settlement() }), shape: 'camel' },
  update_settlement_status: { typed: (w) => w.engine.updateSettlementStatus({ settlementId: w.settlement(), status: 'issued' }), args: (w) => ({ settlement_id: w.settlement(), status: 'void', reason: 'x' }), shape: 'camel' },
  export_settlement: { typed: (w) => w.engine.exportSettlement({ settlementId: w.settlement() }), args: (w) => ({ settlement_id: w.settlement() }), shape: 'camel' },
  verify_settlement: {
    typed: (w) => { const b = w.engine.exportSettlement({ settlementId: w.settlement() }); return w.engine.verifySettlement({ document: b.settlement, did: w.engine.signerDid, consumptions: b.consumptions }) },
    args: (w) => { const b = w.engine.exportSettlement({ settlementId: w.settlement() }); return { document: b.settlement, did: w.engine.signerDid, consumptions: b.consumptions } },
    shape: 'camel',
  },
  get_billing_summary: { typed: (w) => { w.settlement(); return w.engine.getBillingSummary({ filter: { gate: 'llm' } }) }, args: () => ({ filter: { gate: 'llm', from: 0, to: 4e12 } }), shape: 'camel' },
  get_sla_compliance: { typed: (w) => w.engine.getSlaCompliance({ gate: 'llm', from: 0, to: 4e12 }), args: () => ({ gate: 'llm', from: 0, to: 4e12, permission: 'llm' }), shape: 'camel' },
}

const keys = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : null)

test('the core describes exactly the operations it lists', () => {
  assert.deepEqual([...DESCRIBED.keys()], passgate.operations())
})

test('every operation is a camelCase method of Engine', () => {
  for (const op of passgate.operations()) {
    assert.equal(typeof Engine.prototype[camel(op)], 'function', `Engine.prototype.${camel(op)} (${op})`)
  }
})

test('the .d.ts declares every operation with its argument names (modulo case)', () => {
  const declared = declaredMethods()
  for (const op of passgate.operations()) {
    const names = declared.get(camel(op))
    assert.ok(names, `${camel(op)} is not declared on Engine`)
    assert.deepEqual([...names].sort(), argNames(op).map(camel).sort(), `${camel(op)} (${op})`)
  }
})

test('every operation answers with the core result keys, camelCased', () => {
  for (const op of passgate.operations()) {
    const call = CALLS[op]
    assert.ok(call, `${op}: no sample call in the contract table`)
    const w = world()
    const typed = call.typed(w)
    const generic = w.engine.call(op, call.args(w))
    const [kind, key] = call.shape.split(':')
    switch (kind) {
      case 'camel':
        assert.deepEqual(keys(typed), keys(generic).map(camel), op)
        break
      case 'as-is':
        if (Array.isArray(generic)) assert.ok(Array.isArray(typed), op)
        else assert.deepEqual(keys(typed), keys(generic), op)
        break
      case 'field':
        // list_gates also answers the policy_hash an edit passes as if_match.
        assert.deepEqual(keys(generic), op === 'list_gates' ? [key, 'policy_hash'] : [key], op)
        assert.ok(Array.isArray(typed) && Array.isArray(generic[key]), op)
        if (keys(typed[0]) && (op === 'cumulative_state' || op === 'list_api_keys' || op === 'list_issuers')) assert.deepEqual(keys(typed[0]), keys(generic[key][0]).map(camel), op)
        else if (keys(typed[0])) assert.deepEqual(keys(typed[0]), keys(generic[key][0]), op)
        break
      case 'count':
        assert.equal(typeof typed, 'number', op)
        assert.equal(typeof generic[key], 'number', op)
        break
      case 'string':
        assert.equal(typeof typed, 'string', op)
        assert.equal(typeof generic[key], 'string', op)
        break
      case 'void':
        assert.equal(typed, undefined, op)
        assert.ok(keys(generic), op)
        break
      case 'passport':
        assert.ok(typed instanceof passgate.IssuedPassport, op)
        for (const k of keys(generic)) assert.ok(camel(k) in typed, `${op}: ${camel(k)}`)
        break
      default:
        assert.fail(`${op}: unknown shape ${call.shape}`)
    }
  }
  assert.deepEqual(Object.keys(CALLS).filter((op) => !passgate.operations().includes(op)), [], 'table entries for operations that do not exist')
})

test('the generic methods take camelCase options and refuse snake_case ones', () => {
  const w = world()
  const issued = w.engine.issuePassport({ issuerSecret: w.issuer.secret, agentId: 'z', permissions: ['llm'] })
  assert.equal(typeof issued.passportId, 'string')
  assert.throws(() => w.engine.issuePassport({ issuer_secret: w.issuer.secret, agentId: 'z' }), (e) => e instanceof passgate.InputError && e.path === '/issuer_secret')
  assert.throws(() => w.engine.issuePassport('nope'), passgate.InputError)
  assert.ok(readFileSync(fileURLToPath(new URL('../passgate.d.ts', import.meta.url)), 'utf8').includes('issuePassport'))
})
