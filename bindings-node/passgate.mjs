// passgate for Node (ES module entry): the CommonJS entry's exports, by name.
import passgate from './passgate.js'

export const {
  Engine,
  Issuer,
  IssuedPassport,
  verifyAttestation,
  makePop,
  verifyChain,
  constraintTypes,
  templates,
  errorCodes,
  errorFamilies,
  checkCodes,
  operations,
  describeOperations,
  mcpTools,
  mcpHandle,
  mcpHandleAsync,
  PassgateError,
  PolicyError,
  PassportError,
  InputError,
  IdempotencyConflictError,
  StoreError,
  AttestationError,
  ERROR_FAMILIES,
  isPassgateError,
} = passgate

export default passgate
