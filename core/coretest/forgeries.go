package coretest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// Forgery is a token that a correct verifier must refuse.
type Forgery struct {
	Name  string
	Token string
}

// Claims are the claims of a good token for the forgery table to start from.
type Claims struct {
	Issuer, Audience, Subject, SessionID, ID string
	ClientID                                 string // "" means coretest.ClientID
	Now                                      time.Time
}

func (c Claims) wire() map[string]any {
	client := c.ClientID
	if client == "" {
		client = ClientID
	}
	return map[string]any{
		"iss": c.Issuer, "aud": c.Audience, "sub": c.Subject, "sid": c.SessionID, "jti": c.ID,
		"iat": c.Now.Unix(), "exp": c.Now.Add(5 * time.Minute).Unix(), "auth_time": c.Now.Unix(),
		"client_id": client,
	}
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Forgeries returns the refusal table of docs/security.md (tokens) and RFC 8725: each entry is a
// token built around good claims that must fail verification. Entries that need a real
// signature are signed by signer, the service's own HSM, to show that a valid signature alone
// is not enough.
func Forgeries(t testing.TB, signer core.Signer, c Claims) []Forgery {
	t.Helper()
	ctx := context.Background()
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kid := keys[0].ID
	ours := func(header map[string]any, claims map[string]any) string {
		in := seg(header) + "." + seg(claims)
		sig, err := signer.Sign(ctx, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	good := func() map[string]any { return c.wire() }
	hdr := func(extra map[string]any) map[string]any {
		h := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}
		for k, v := range extra {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	without := func(name string) map[string]any { m := good(); delete(m, name); return m }
	with := func(name string, v any) map[string]any { m := good(); m[name] = v; return m }

	// An attacker's own key, offered in the header or by reference.
	evil, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	evilJWK := core.JWKOf(mustKey(t, &evil.PublicKey))
	evilSigned := func(header map[string]any) string {
		in := seg(header) + "." + seg(good())
		h := sha256.Sum256([]byte(in))
		r, s, _ := ecdsa.Sign(rand.Reader, evil, h[:])
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	// HS256 keyed with our public key, in the forms a confused verifier might use.
	pubJWK, _ := json.Marshal(core.JWKOf(keys[0]))
	raw, _ := keys[0].Key.Bytes()
	hs := func(key []byte) string {
		in := seg(hdr(map[string]any{"alg": "HS256"})) + "." + seg(good())
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	none := func(alg string) string { return seg(hdr(map[string]any{"alg": alg})) + "." + seg(good()) + "." }
	goodToken := ours(hdr(nil), good())
	parts := strings.Split(goodToken, ".")

	return []Forgery{
		{"alg none", none("none")},
		{"alg None", none("None")},
		{"alg NONE", none("NONE")},
		{"alg nOnE", none("nOnE")},
		{"alg none with our signature", seg(hdr(map[string]any{"alg": "none"})) + "." + seg(good()) + "." + parts[2]},
		{"HS256 keyed with the public JWK", hs(pubJWK)},
		{"HS256 keyed with the public point", hs(raw)},
		{"HS256 keyed with the kid", hs([]byte(kid))},
		{"ES384 header", ours(hdr(map[string]any{"alg": "ES384"}), good())},
		{"zero signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))},
		{"r = s = n", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(append(pad(elliptic.P256().Params().N), pad(elliptic.P256().Params().N)...))},
		{"DER signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(append([]byte{0x30, 0x44, 0x02, 0x20}, make([]byte, 68)...))},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:40]},
		{"claims swapped after signing", parts[0] + "." + seg(with("sub", "someone-else")) + "." + parts[2]},
		{"unknown kid", ours(hdr(map[string]any{"kid": "not-a-key-of-ours"}), good())},
		{"path-like kid", ours(hdr(map[string]any{"kid": "../../../../dev/null"}), good())},
		{"url kid", ours(hdr(map[string]any{"kid": "https://attacker.example/key.json"}), good())},
		{"no kid", ours(hdr(map[string]any{"kid": nil}), good())},
		{"attacker key in jwk header", evilSigned(hdr(map[string]any{"jwk": evilJWK, "kid": evilJWK.Kid}))},
		{"attacker key by jku", evilSigned(hdr(map[string]any{"jku": "https://attacker.example/jwks.json", "kid": evilJWK.Kid}))},
		{"attacker key by x5u", evilSigned(hdr(map[string]any{"x5u": "https://attacker.example/cert.pem", "kid": evilJWK.Kid}))},
		{"attacker key with our kid", evilSigned(hdr(nil))},
		{"missing exp", ours(hdr(nil), without("exp"))},
		{"expired", ours(hdr(nil), with("exp", c.Now.Add(-10*time.Minute).Unix()))},
		{"missing iat", ours(hdr(nil), without("iat"))},
		{"missing iss", ours(hdr(nil), without("iss"))},
		{"wrong iss", ours(hdr(nil), with("iss", "https://attacker.example"))},
		{"missing aud", ours(hdr(nil), without("aud"))},
		{"wrong aud", ours(hdr(nil), with("aud", "another-api"))},
		{"missing typ", ours(hdr(map[string]any{"typ": nil}), good())},
		{"typ JWT", ours(hdr(map[string]any{"typ": "JWT"}), good())},
		{"typ of an ID token", ours(hdr(map[string]any{"typ": "id+jwt"}), good())},
		{"missing sid", ours(hdr(nil), without("sid"))},
		{"missing jti", ours(hdr(nil), without("jti"))},
		{"missing client_id", ours(hdr(nil), without("client_id"))},
		{"empty client_id", ours(hdr(nil), with("client_id", ""))},
		{"empty", ""},
		{"one segment", "abc"},
		{"two segments", parts[0] + "." + parts[1]},
		{"four segments", goodToken + ".x"},
		{"not base64", "!!!.###.$$$"},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2]},
		{"huge", parts[0] + "." + strings.Repeat("A", 1<<20) + "." + parts[2]},
		{"many dots", strings.Repeat(".", 10000)},
	}
}

func pad(n *big.Int) []byte {
	b := make([]byte, 32)
	return n.FillBytes(b)
}

func mustKey(t testing.TB, k *ecdsa.PublicKey) core.PublicKey {
	t.Helper()
	pk, err := core.NewPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}
