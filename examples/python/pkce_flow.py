"""A host minting a short-lived passport through OAuth's authorization-code flow with PKCE.

The three parties, in one process (no browser: the "redirect" is a URL string):

1. the agent's client makes a code verifier and sends its S256 challenge to the host's
   authorization endpoint;
2. the user consents to a set of permissions; the host records the consent
   (``AuthorizationFlow.authorize``) and redirects back with a single-use code;
3. the client exchanges the code and its verifier (``AuthorizationFlow.exchange``) for a passport
   with exactly the consented permissions, valid 15 minutes, and the agent uses it.

Run: ``python examples/python/pkce_flow.py`` (prints one line per step).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

from passgate import Engine, Issuer, PassportError, pkce

REDIRECT_URI = "http://127.0.0.1:8765/callback"
CLIENT_ID = "travel-agent"

POLICY = {
    "version": 1,
    "gates": {
        "flights.book": {
            "require": ["flights:book"],
            "constraints": [{"id": "per-booking", "type": "max_value", "field": "/amount", "max": 800}],
        },
        "payments.send": {"require": ["payments:send"]},
    },
}


def main() -> dict[str, str]:
    issuer = Issuer.generate()
    engine = Engine(POLICY, trusted_issuers=[issuer.did])
    flow = pkce.AuthorizationFlow(issuer)  # the host's authorization server, in memory

    # 1. The client: a verifier it keeps, a challenge it sends.
    verifier = pkce.generate_verifier()
    query = urlencode({
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "code_challenge": pkce.challenge_s256(verifier),
        "code_challenge_method": "S256",
        "scope": "flights:book",
    })
    print(f"1. client -> host: /authorize?{query[:60]}...")

    # 2. The host: the user consents to the requested scope; redirect with a code.
    request = {k: v[0] for k, v in parse_qs(query).items()}
    code = flow.authorize(
        agent_id="travel-agent-7",
        permissions=request["scope"].split(),
        code_challenge=request["code_challenge"],
        code_challenge_method=request["code_challenge_method"],
        redirect_uri=request["redirect_uri"],
        client_id=request["client_id"],
    )
    redirect = f"{request['redirect_uri']}?{urlencode({'code': code})}"
    print(f"2. host -> client: redirect to {redirect[:60]}...")

    # 3. The client: exchange code + verifier for a passport.
    got = parse_qs(urlparse(redirect).query)["code"][0]
    passport = flow.exchange(code=got, code_verifier=verifier, redirect_uri=REDIRECT_URI, client_id=CLIENT_ID)
    print(f"3. client: passport {passport.passport_id} for {passport.agent_id}")

    # The agent uses it: what was consented to is allowed, nothing else.
    booked = engine.enforce("flights.book", passport.token, {"amount": 420})
    paid = engine.enforce("payments.send", passport.token, {"amount": 1})
    print(f"4. agent: flights.book -> {booked.decision}, payments.send -> {paid.decision}")

    # The code was single-use.
    try:
        flow.exchange(code=got, code_verifier=verifier, redirect_uri=REDIRECT_URI, client_id=CLIENT_ID)
        replay = "accepted"
    except PassportError as e:
        replay = e.code
    print(f"5. replaying the code: {replay}")
    return {"booked": booked.decision, "paid": paid.decision, "replay": replay}


if __name__ == "__main__":
    main()
