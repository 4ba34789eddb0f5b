"""PKCE (RFC 7636, S256) and an authorization-code flow that mints a short-lived passport.

A host that lets a user consent to an agent's permissions runs OAuth's authorization-code flow
with PKCE: the agent's client makes a verifier and sends its challenge; on consent the host calls
``AuthorizationFlow.authorize`` and redirects with the code; the client exchanges the code and its
verifier for a passport with exactly the consented permissions (15 minutes by default)::

    >>> from passgate import Issuer, pkce
    >>> flow = pkce.AuthorizationFlow(Issuer.generate())
    >>> verifier = pkce.generate_verifier()
    >>> code = flow.authorize(agent_id="agent-7", permissions=["payments:send"],
    ...                       code_challenge=pkce.challenge_s256(verifier),
    ...                       code_challenge_method="S256",
    ...                       redirect_uri="https://host.example/cb", client_id="my-agent")
    >>> passport = flow.exchange(code=code, code_verifier=verifier,
    ...                          redirect_uri="https://host.example/cb", client_id="my-agent")
    >>> passport.agent_id
    'agent-7'

Codes are single-use, live 60 seconds and are burnt by the first failed exchange; a failed
exchange raises ``PassportError`` with code ``GRANT_INVALID``. Implemented in Rust
(``passgate::pkce``).
"""

from passgate._native import AuthorizationFlow
from passgate._native import pkce_challenge_s256 as challenge_s256
from passgate._native import pkce_generate_verifier as generate_verifier
from passgate._native import pkce_verify_s256 as verify_s256

__all__ = ["AuthorizationFlow", "challenge_s256", "generate_verifier", "verify_s256"]
