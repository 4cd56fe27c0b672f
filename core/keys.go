package core

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// PublicKey is one access-token verification key and its key id.
type PublicKey struct {
	ID  string // the RFC 7638 thumbprint of Key, used as the JWS kid
	Key *ecdsa.PublicKey
}

// KeySource gives the access-token verification keys. core/kmssign loads them from AWS KMS.
type KeySource interface {
	// PublicKeys returns every verification key, the signing key first. They are loaded once
	// per process; KindUnavailable while the HSM cannot be reached.
	PublicKeys(ctx context.Context) ([]PublicKey, error)
}

// Signer is the HSM behind access tokens (core/kmssign wraps AWS KMS). Private keys never
// leave it; Latchkey only ever holds public keys.
type Signer interface {
	KeySource
	// Sign returns the ES256 signature of input under PublicKeys()[0] in the JWS encoding, the
	// 64-byte r‖s of RFC 7518 §3.4. KindUnavailable while the HSM cannot be reached.
	Sign(ctx context.Context, input []byte) ([]byte, error)
}

// RSAPublicKey is one ID-token verification key (RS256) and its key id.
type RSAPublicKey struct {
	ID  string // the RFC 7638 thumbprint of Key, used as the JWS kid
	Key *rsa.PublicKey
}

// IDSigner is the HSM behind ID tokens (core/kmssign wraps an AWS KMS RSA key). OpenID
// Connect Discovery requires RS256 among a provider's ID-token algorithms, so ID tokens get a
// key of their own, next to the ES256 key of access tokens. Private keys never leave it.
type IDSigner interface {
	// IDKeys returns every ID-token verification key, the signing key first, loaded once per
	// process; KindUnavailable while the HSM cannot be reached.
	IDKeys(ctx context.Context) ([]RSAPublicKey, error)
	// SignRS256 returns the RSASSA-PKCS1-v1_5 SHA-256 signature of input under IDKeys()[0]
	// (RFC 7518 §3.3). KindUnavailable while the HSM cannot be reached.
	SignRS256(ctx context.Context, input []byte) ([]byte, error)
}

// NewPublicKey checks that k is a P-256 key and computes its RFC 7638 thumbprint as the key id.
func NewPublicKey(k *ecdsa.PublicKey) (PublicKey, error) {
	if k == nil || k.Curve != elliptic.P256() {
		return PublicKey{}, Wrap("core.NewPublicKey", errors.New("signing key is not an EC P-256 key"))
	}
	if _, err := k.Bytes(); err != nil {
		return PublicKey{}, Wrap("core.NewPublicKey", err)
	}
	jwk := JWKOf(PublicKey{Key: k})
	// RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
	canon := `{"crv":"P-256","kty":"EC","x":"` + jwk.X + `","y":"` + jwk.Y + `"}`
	sum := sha256.Sum256([]byte(canon))
	return PublicKey{ID: base64.RawURLEncoding.EncodeToString(sum[:]), Key: k}, nil
}

// JWK is a public key in the JSON Web Key form published at /.well-known/jwks.json: an EC
// P-256 key of access tokens (crv, x, y) or an RSA key of ID tokens (n, e). The members of the
// other key type are left out, so an EC key's JWK is exactly what it was before RSA keys were
// published beside it.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKOf returns the JWK of k. Coordinates are the fixed 32-byte big-endian form (RFC 7518
// §6.2.1.2), so a leading zero byte is never dropped.
func JWKOf(k PublicKey) JWK {
	raw, _ := k.Key.Bytes() // 0x04‖X‖Y, 65 bytes: NewPublicKey checked the key
	return JWK{
		Kty: "EC",
		Crv: "P-256",
		X:   base64.RawURLEncoding.EncodeToString(raw[1:33]),
		Y:   base64.RawURLEncoding.EncodeToString(raw[33:65]),
		Kid: k.ID,
		Alg: "ES256",
		Use: "sig",
	}
}

// Bounds of an ID-token key. RFC 7518 §3.3 requires at least 2048 bits for RS256; KMS's RSA
// key specs are 2048, 3072 and 4096 bits, all with the public exponent 65537, so any other
// exponent means the key is not one of ours.
const (
	MinRSABits  = 2048
	RSAExponent = 65537
)

// NewRSAPublicKey checks that k is an RSA key of at least MinRSABits with the exponent
// RSAExponent, and computes its RFC 7638 thumbprint as the key id.
func NewRSAPublicKey(k *rsa.PublicKey) (RSAPublicKey, error) {
	const op = "core.NewRSAPublicKey"
	switch {
	case k == nil || k.N == nil:
		return RSAPublicKey{}, Wrap(op, errors.New("ID-token key is not an RSA key"))
	case k.N.BitLen() < MinRSABits:
		return RSAPublicKey{}, Wrap(op, fmt.Errorf("ID-token key has %d bits, under the %d RS256 requires (RFC 7518 §3.3)", k.N.BitLen(), MinRSABits))
	case k.E != RSAExponent:
		return RSAPublicKey{}, Wrap(op, fmt.Errorf("ID-token key has the public exponent %d, want %d", k.E, RSAExponent))
	}
	jwk := JWKOfRSA(RSAPublicKey{Key: k})
	// RFC 7638 §3.2: the required members e, kty, n in lexicographic order, no whitespace.
	canon := `{"e":"` + jwk.E + `","kty":"RSA","n":"` + jwk.N + `"}`
	sum := sha256.Sum256([]byte(canon))
	return RSAPublicKey{ID: base64.RawURLEncoding.EncodeToString(sum[:]), Key: k}, nil
}

// JWKOfRSA returns the JWK of k, an RS256 signing key. The modulus and exponent are unsigned
// big-endian integers without leading zero bytes (RFC 7518 §6.3.1.1, §6.3.1.2).
func JWKOfRSA(k RSAPublicKey) JWK {
	return JWK{
		Kty: "RSA",
		N:   base64.RawURLEncoding.EncodeToString(k.Key.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.Key.E)).Bytes()),
		Kid: k.ID,
		Alg: "RS256",
		Use: "sig",
	}
}

// DeriveKey derives an independent 256-bit key for one purpose from a master secret:
// HMAC-SHA256(secret, label). Latchkey keeps one HMAC secret in Secrets Manager; the refresh
// codec keys with it directly (its MACs cover a versioned "lkr1." prefix no label starts
// with) and every other use derives a key of its own, so no two uses share a key.
func DeriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}
