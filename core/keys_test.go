package core_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/core"
)

// rfc7638Key is the RSA key of RFC 7638 §3.1, whose thumbprint the RFC gives.
func rfc7638Key(t *testing.T) *rsa.PublicKey {
	t.Helper()
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(raw), E: 65537}
}

// TestRSAKeyIDIsTheRFC7638Thumbprint: the kid of an ID-token key is its RFC 7638 thumbprint,
// checked against the RFC's own example (§3.1) and against go-jose's computation.
func TestRSAKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	k, err := core.NewRSAPublicKey(rfc7638Key(t))
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("kid %s, want RFC 7638 §3.1's NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", k.ID)
	}
	b, _ := json.Marshal(core.JWKOfRSA(k))
	var parsed jose.JSONWebKey
	if err := json.Unmarshal(b, &parsed); err != nil {
		t.Fatalf("go-jose cannot read %s: %v", b, err)
	}
	tp, err := parsed.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(tp); got != k.ID || parsed.KeyID != k.ID {
		t.Fatalf("go-jose thumbprint %s, kid %s, ours %s", got, parsed.KeyID, k.ID)
	}
	pub, ok := parsed.Key.(*rsa.PublicKey)
	if !ok || !pub.Equal(k.Key) || parsed.Algorithm != "RS256" || parsed.Use != "sig" {
		t.Fatalf("go-jose read %+v", parsed)
	}
}

// TestRSAKeysAreRefusedUnlessStrong: under 2048 bits or another exponent than 65537, an
// ID-token key is refused (RFC 7518 §3.3; KMS's RSA keys all use 65537).
func TestRSAKeysAreRefusedUnlessStrong(t *testing.T) {
	bits := func(n int) *big.Int {
		return new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(n-1)), big.NewInt(1))
	}
	for _, c := range []struct {
		name string
		key  *rsa.PublicKey
		want string // "" when accepted
	}{
		{"nil", nil, "not an RSA key"},
		{"no modulus", &rsa.PublicKey{E: 65537}, "not an RSA key"},
		{"1024 bits", &rsa.PublicKey{N: bits(1024), E: 65537}, "1024 bits"},
		{"2047 bits", &rsa.PublicKey{N: bits(2047), E: 65537}, "2047 bits"},
		{"exponent 3", &rsa.PublicKey{N: bits(2048), E: 3}, "exponent 3"},
		{"exponent 65539", &rsa.PublicKey{N: bits(2048), E: 65539}, "exponent 65539"},
		{"2048 bits", &rsa.PublicKey{N: bits(2048), E: 65537}, ""},
		{"3072 bits", &rsa.PublicKey{N: bits(3072), E: 65537}, ""},
		{"4096 bits", &rsa.PublicKey{N: bits(4096), E: 65537}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := core.NewRSAPublicKey(c.key)
			switch {
			case c.want == "" && (err != nil || len(k.ID) != 43):
				t.Fatalf("refused: %v (kid %q)", err, k.ID)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want it refused with %q", err, c.want)
			case c.want != "" && core.KindOf(err) != core.KindInternal:
				t.Fatalf("kind %s, want internal (a misconfigured key)", core.KindOf(err))
			}
		})
	}
}

// TestJWKMembersByKeyType: an EC key's JWK has exactly the members it had before RSA keys were
// published beside it, in the same order, and an RSA key's has n and e and no EC member.
func TestJWKMembersByKeyType(t *testing.T) {
	ec, err := core.NewPublicKey(&ecdsa.PublicKey{Curve: elliptic.P256(), X: elliptic.P256().Params().Gx, Y: elliptic.P256().Params().Gy})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(core.JWKOf(ec))
	want := `{"kty":"EC","crv":"P-256","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU","kid":"` + ec.ID + `","alg":"ES256","use":"sig"}`
	if string(b) != want {
		t.Errorf("EC JWK\n got %s\nwant %s", b, want)
	}
	rsaKey, err := core.NewRSAPublicKey(rfc7638Key(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(core.JWKOfRSA(rsaKey))
	var members map[string]any
	if err := json.Unmarshal(b, &members); err != nil {
		t.Fatal(err)
	}
	if len(members) != 6 || members["kty"] != "RSA" || members["e"] != "AQAB" || members["alg"] != "RS256" || members["use"] != "sig" ||
		members["kid"] != rsaKey.ID || !strings.HasPrefix(members["n"].(string), "0vx7agoebGcQ") {
		t.Errorf("RSA JWK %s", b)
	}
	if !strings.HasPrefix(string(b), `{"kty":"RSA","n":"0vx7`) {
		t.Errorf("RSA JWK members out of order: %s", b)
	}
}
