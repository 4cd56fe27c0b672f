// Verifies the access token $TOKEN with jose (panva/jose) against the JWKS at $JWKS_URL, as a
// resource server of the issuer $ISSUER would: ES256 only, typ at+jwt (RFC 9068), the issuer
// and audience, and the claims RFC 9068 §2.2 requires, client_id among them. Prints the
// verified payload and header as JSON; exits non-zero when the token is refused.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const { JWKS_URL, ISSUER, AUDIENCE, TOKEN } = process.env;
const jwks = createRemoteJWKSet(new URL(JWKS_URL));
const { payload, protectedHeader } = await jwtVerify(TOKEN, jwks, {
  issuer: ISSUER,
  audience: AUDIENCE,
  typ: 'at+jwt',
  algorithms: ['ES256'],
  requiredClaims: ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'],
});
console.log(JSON.stringify({ payload, protectedHeader }));
