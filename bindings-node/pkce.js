'use strict'
// passgate/pkce (CommonJS entry): PKCE (RFC 7636, S256) and an authorization-code flow that mints a
// short-lived passport with exactly the consented permissions. Implemented in Rust
// (`passgate::pkce`); this file only renames.
//
//   const { Issuer } = require('passgate')
//   const pkce = require('passgate/pkce')
//   const flow = new pkce.AuthorizationFlow(Issuer.generate())
//   const verifier = pkce.generateVerifier()
//   const code = flow.authorize({ agentId: 'agent-7', permissions: ['payments:send'],
//     codeChallenge: pkce.challengeS256(verifier), codeChallengeMethod: 'S256',
//     redirectUri: 'https://host.example/cb', clientId: 'my-agent' })
//   const passport = flow.exchange({ code, codeVerifier: verifier,
//     redirectUri: 'https://host.example/cb', clientId: 'my-agent' })
//
// Codes are single-use, live 60 seconds and are burnt by the first failed exchange, which throws
// GRANT_INVALID.

const native = require('./passgate.js')

module.exports = {
  AuthorizationFlow: native.AuthorizationFlow,
  generateVerifier: native.pkceGenerateVerifier,
  challengeS256: native.pkceChallengeS256,
  verifyS256: native.pkceVerifyS256,
}
