package kmssign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/local/testenv"
)

// counting wraps the KMS client to count round trips.
type counting struct {
	kmssign.API
	sign, getPublicKey atomic.Int32
}

func (c *counting) Sign(ctx context.Context, in *kms.SignInput, o ...func(*kms.Options)) (*kms.SignOutput, error) {
	c.sign.Add(1)
	return c.API.Sign(ctx, in, o...)
}

func (c *counting) GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, o ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	c.getPublicKey.Add(1)
	return c.API.GetPublicKey(ctx, in, o...)
}

// newKey makes a SIGN_VERIFY key of spec in the emulator and returns its ARN.
func newKey(t *testing.T, api *kms.Client, spec types.KeySpec) string {
	t.Helper()
	out, err := api.CreateKey(context.Background(), &kms.CreateKeyInput{
		KeySpec:  spec,
		KeyUsage: types.KeyUsageTypeSignVerify,
	})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return *out.KeyMetadata.Arn
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestTokensVerifyWithAnIndependentLibrary signs a JWT through KMS (the moto server) and
// verifies it with go-jose against the JWKS Latchkey publishes.
func TestTokensVerifyWithAnIndependentLibrary(t *testing.T) {
	api := testenv.KMS(t)
	first, second := newKey(t, api, types.KeySpecEccNistP256), newKey(t, api, types.KeySpecEccNistP256)
	c := &counting{API: api}
	s := kmssign.New(c, []string{first, second})
	ctx := context.Background()

	keys, err := s.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID == keys[1].ID {
		t.Fatalf("want two distinct keys, got %+v", keys)
	}
	var jwks []core.JWK
	for _, k := range keys {
		jwks = append(jwks, core.JWKOf(k))
	}
	set := goJoseSet(t, jwks)

	input := b64(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": keys[0].ID}) + "." + b64(map[string]any{"sub": "u1", "iat": time.Now().Unix()})
	sig, err := s.Sign(ctx, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want the 64-byte r‖s", len(sig))
	}
	goJoseVerify(t, set, input+"."+base64.RawURLEncoding.EncodeToString(sig), jose.ES256, keys[1].ID)

	// Public keys are fetched once per process.
	if _, err := s.PublicKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.getPublicKey.Load(); n != 2 {
		t.Errorf("GetPublicKey called %d times for two keys over two loads, want 2", n)
	}
}

// goJoseSet publishes jwks as the JWKS does, reads it back with go-jose and requires every kid
// to be the key's RFC 7638 thumbprint as go-jose computes it.
func goJoseSet(t *testing.T, jwks []core.JWK) jose.JSONWebKeySet {
	t.Helper()
	published, _ := json.Marshal(map[string][]core.JWK{"keys": jwks})
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(published, &set); err != nil {
		t.Fatalf("go-jose cannot read our JWKS %s: %v", published, err)
	}
	for i, k := range set.Keys {
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.RawURLEncoding.EncodeToString(tp); got != k.KeyID {
			t.Errorf("key %d: kid %s is not the RFC 7638 thumbprint %s", i, k.KeyID, got)
		}
	}
	return set
}

// goJoseVerify requires go-jose to verify token (signed with alg, payload sub u1) under the
// one key of set its kid names, and not under the key otherKid.
func goJoseVerify(t *testing.T, set jose.JSONWebKeySet, token string, alg jose.SignatureAlgorithm, otherKid string) {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatal(err)
	}
	matches := set.Key(jws.Signatures[0].Header.KeyID)
	if len(matches) != 1 {
		t.Fatalf("kid %q matches %d published keys", jws.Signatures[0].Header.KeyID, len(matches))
	}
	payload, err := jws.Verify(matches[0])
	if err != nil {
		t.Fatalf("go-jose rejects the KMS-signed token: %v", err)
	}
	if !strings.Contains(string(payload), `"sub":"u1"`) {
		t.Fatalf("payload %s", payload)
	}
	// Another (older) key must not verify what the first signed.
	if _, err := jws.Verify(set.Key(otherKid)[0]); err == nil {
		t.Fatal("a token signed by the first key verifies under the second")
	}
}

func TestSignRefusesOversizedInputWithoutCallingKMS(t *testing.T) {
	c := &counting{API: testenv.KMS(t)}
	s := kmssign.New(c, []string{"alias/any"})
	_, err := s.Sign(context.Background(), make([]byte, kmssign.MaxInput+1))
	if err == nil || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("err = %v, want a clear size error", err)
	}
	if c.sign.Load() != 0 {
		t.Fatal("KMS was called for an oversized input")
	}
}

func TestUnreachableKMSIsUnavailable(t *testing.T) {
	hung := testenv.HungEndpoint(t) // a KMS that accepts and never answers
	api := kms.New(kms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(hung),
		Credentials:  aws.AnonymousCredentials{},
	})
	s := kmssign.New(api, []string{"alias/hung"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.PublicKeys(ctx)
	if core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("err = %v (kind %s), want unavailable", err, core.KindOf(err))
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("a hung KMS held the call for %s", time.Since(start))
	}
	if err := s.Ping(ctx); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("ping: %v", err)
	}
}

func TestJOSEConversion(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// Many signatures, so r or s with a high bit (33-byte DER integer) and short ones
	// (fewer than 32 bytes) both occur.
	for i := 0; i < 500; i++ {
		msg := []byte{byte(i), byte(i >> 8)}
		h := sha256.Sum256(msg)
		der, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			t.Fatal(err)
		}
		sig, err := kmssign.JOSE(der)
		if err != nil {
			t.Fatal(err)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&key.PublicKey, h[:], r, s) {
			t.Fatalf("signature %d does not verify after conversion", i)
		}
	}
	for _, bad := range [][]byte{nil, {0x30, 0x00}, []byte("not der"), append(mustDER(t, big.NewInt(1), big.NewInt(1)), 0)} {
		if _, err := kmssign.JOSE(bad); err == nil {
			t.Errorf("JOSE(%x) accepted", bad)
		}
	}
	tooBig := new(big.Int).Lsh(big.NewInt(1), 256)
	if _, err := kmssign.JOSE(mustDER(t, tooBig, big.NewInt(1))); err == nil {
		t.Error("a 257-bit r was accepted")
	}
}

func mustDER(t *testing.T, r, s *big.Int) []byte {
	t.Helper()
	b, err := asn1Marshal(r, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
