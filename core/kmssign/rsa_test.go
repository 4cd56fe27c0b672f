package kmssign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"sync"
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

// TestIDTokensVerifyWithAnIndependentLibrary signs an ID token through KMS (the moto server)
// with an RSA_2048 key and verifies it with go-jose against the JWKS Latchkey publishes.
func TestIDTokensVerifyWithAnIndependentLibrary(t *testing.T) {
	api := testenv.KMS(t)
	first, second := newKey(t, api, types.KeySpecRsa2048), newKey(t, api, types.KeySpecRsa2048)
	c := &counting{API: api}
	s := kmssign.NewIDSigner(c, []string{first, second})
	ctx := context.Background()

	keys, err := s.IDKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID == keys[1].ID || keys[0].Key.N.BitLen() != 2048 {
		t.Fatalf("want two distinct 2048-bit keys, got %+v", keys)
	}
	var jwks []core.JWK
	for _, k := range keys {
		jwks = append(jwks, core.JWKOfRSA(k))
	}
	set := goJoseSet(t, jwks)

	input := b64(map[string]string{"alg": "RS256", "typ": "JWT", "kid": keys[0].ID}) + "." + b64(map[string]any{"sub": "u1", "aud": "app", "iat": time.Now().Unix()})
	sig, err := s.SignRS256(ctx, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 256 {
		t.Fatalf("signature is %d bytes, want the 256 of a 2048-bit key", len(sig))
	}
	goJoseVerify(t, set, input+"."+base64.RawURLEncoding.EncodeToString(sig), jose.RS256, keys[1].ID)
	if _, err := s.IDKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.getPublicKey.Load(); n != 2 {
		t.Errorf("GetPublicKey called %d times for two keys over two loads, want 2", n)
	}
	if n := c.sign.Load(); n != 1 {
		t.Errorf("Sign called %d times, want 1", n)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// TestIDSignerRefusesTheAccessTokenKey: an ECC_NIST_P256 key of KMS (the access-token key)
// given as an ID-token key is refused, and the RSA key given as an access-token key too.
func TestIDSignerRefusesTheAccessTokenKey(t *testing.T) {
	api := testenv.KMS(t)
	_, err := kmssign.NewIDSigner(api, []string{newKey(t, api, types.KeySpecEccNistP256)}).IDKeys(context.Background())
	if err == nil || core.KindOf(err) != core.KindInternal {
		t.Fatalf("an EC key as ID-token key: %v (kind %s), want internal", err, core.KindOf(err))
	}
	_, err = kmssign.New(api, []string{newKey(t, api, types.KeySpecRsa2048)}).PublicKeys(context.Background())
	if err == nil || core.KindOf(err) != core.KindInternal {
		t.Fatalf("an RSA key as access-token key: %v (kind %s), want internal", err, core.KindOf(err))
	}
}

// fakeKMS is a KMS with fixed answers, for what moto cannot be made to say.
type fakeKMS struct {
	mu       sync.Mutex
	pub      map[string]*kms.GetPublicKeyOutput
	pubErr   []error // returned, one per call, before pub is consulted
	priv     *rsa.PrivateKey
	sigLen   int // when not 0, Sign returns a signature of this length
	signErr  error
	signed   []*kms.SignInput
	gets     int
	describe []string
}

func (f *fakeKMS) GetPublicKey(_ context.Context, in *kms.GetPublicKeyInput, _ ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if len(f.pubErr) > 0 {
		err := f.pubErr[0]
		f.pubErr = f.pubErr[1:]
		return nil, err
	}
	out, ok := f.pub[aws.ToString(in.KeyId)]
	if !ok {
		return nil, &types.NotFoundException{Message: aws.String("no such key")}
	}
	return out, nil
}

func (f *fakeKMS) Sign(_ context.Context, in *kms.SignInput, _ ...func(*kms.Options)) (*kms.SignOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signed = append(f.signed, in)
	if f.signErr != nil {
		return nil, f.signErr
	}
	if f.sigLen != 0 {
		return &kms.SignOutput{Signature: make([]byte, f.sigLen)}, nil
	}
	h := sha256.Sum256(in.Message)
	sig, err := rsa.SignPKCS1v15(rand.Reader, f.priv, crypto.SHA256, h[:])
	return &kms.SignOutput{Signature: sig}, err
}

func (f *fakeKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describe = append(f.describe, aws.ToString(in.KeyId))
	return &kms.DescribeKeyOutput{}, nil
}

// testRSAKey is one 2048-bit key for the fake's tests (generating one per test is slow).
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func der(t *testing.T, pub any) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rsaOutput is what KMS answers for an RSA_2048 SIGN_VERIFY key.
func rsaOutput(t *testing.T, pub *rsa.PublicKey) *kms.GetPublicKeyOutput {
	return &kms.GetPublicKeyOutput{
		KeySpec:           types.KeySpecRsa2048,
		KeyUsage:          types.KeyUsageTypeSignVerify,
		PublicKey:         der(t, pub),
		SigningAlgorithms: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha256, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256},
	}
}

// TestIDKeysMustBeRS256Keys: whatever KMS reports or leaves out, a key that is not an RSA
// SIGN_VERIFY key of at least 2048 bits with exponent 65537 that can sign RSASSA-PKCS1-v1_5
// SHA-256 is refused as a misconfiguration (internal), and so is an empty key list.
func TestIDKeysMustBeRS256Keys(t *testing.T) {
	good := &testRSAKey().PublicKey
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small := &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 1023), big.NewInt(1)), E: 65537}
	badExp := &rsa.PublicKey{N: good.N, E: 3}
	with := func(pub any, edit func(*kms.GetPublicKeyOutput)) *kms.GetPublicKeyOutput {
		out := rsaOutput(t, good)
		out.PublicKey = der(t, pub)
		if edit != nil {
			edit(out)
		}
		return out
	}
	for _, c := range []struct {
		name string
		out  *kms.GetPublicKeyOutput
		want string // "" when accepted
	}{
		{"RSA_2048", with(good, nil), ""},
		{"moto: no key spec, no algorithms", with(good, func(o *kms.GetPublicKeyOutput) { o.KeySpec, o.SigningAlgorithms = "", nil }), ""},
		{"RSA_4096 reported", with(good, func(o *kms.GetPublicKeyOutput) { o.KeySpec = types.KeySpecRsa4096 }), ""},
		{"ECC_NIST_P256 reported", with(good, func(o *kms.GetPublicKeyOutput) { o.KeySpec = types.KeySpecEccNistP256 }), "want RSA_2048"},
		{"encryption key", with(good, func(o *kms.GetPublicKeyOutput) { o.KeyUsage = types.KeyUsageTypeEncryptDecrypt }), "SIGN_VERIFY"},
		{"PSS only", with(good, func(o *kms.GetPublicKeyOutput) {
			o.SigningAlgorithms = []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha256}
		}), "cannot sign RSASSA_PKCS1_V1_5_SHA_256"},
		{"an EC key, spec left out", with(&ec.PublicKey, func(o *kms.GetPublicKeyOutput) { o.KeySpec = "" }), "not an RSA key"},
		{"1024 bits, spec left out", with(small, func(o *kms.GetPublicKeyOutput) { o.KeySpec = "" }), "1024 bits"},
		{"exponent 3", with(badExp, nil), "exponent 3"},
		{"not DER", with(good, func(o *kms.GetPublicKeyOutput) { o.PublicKey = []byte("junk") }), "key k"},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys, err := kmssign.NewIDSigner(&fakeKMS{pub: map[string]*kms.GetPublicKeyOutput{"k": c.out}}, []string{"k"}).IDKeys(context.Background())
			switch {
			case c.want == "" && (err != nil || len(keys) != 1 || !keys[0].Key.Equal(good)):
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || core.KindOf(err) != core.KindInternal):
				t.Fatalf("err = %v (kind %s), want internal with %q", err, core.KindOf(err), c.want)
			}
		})
	}
	if _, err := kmssign.NewIDSigner(&fakeKMS{}, nil).IDKeys(context.Background()); err == nil || core.KindOf(err) != core.KindInternal {
		t.Errorf("no keys: %v", err)
	}
}

// TestIDKeysAreLoadedOnce: the keys are fetched once per process, in the configured order; a
// failed load is not kept, so the next call retries; KMS unreachable is unavailable, a key
// KMS does not know internal.
func TestIDKeysAreLoadedOnce(t *testing.T) {
	a, b := testRSAKey(), &rsa.PublicKey{N: new(big.Int).Add(testRSAKey().N, big.NewInt(2)), E: 65537}
	f := &fakeKMS{
		pub:    map[string]*kms.GetPublicKeyOutput{"a": rsaOutput(t, &a.PublicKey), "b": rsaOutput(t, b)},
		pubErr: []error{errors.New("dial tcp: connection refused")},
	}
	s := kmssign.NewIDSigner(f, []string{"a", "b"})
	if _, err := s.IDKeys(context.Background()); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("KMS down: %v (kind %s), want unavailable", err, core.KindOf(err))
	}
	for range 3 {
		keys, err := s.IDKeys(context.Background())
		if err != nil || len(keys) != 2 || !keys[0].Key.Equal(&a.PublicKey) || !keys[1].Key.Equal(b) {
			t.Fatalf("keys %v, %v", keys, err)
		}
	}
	if f.gets != 3 {
		t.Errorf("GetPublicKey called %d times (one failed, then two keys once), want 3", f.gets)
	}
	_, err := kmssign.NewIDSigner(f, []string{"a", "gone"}).IDKeys(context.Background())
	if err == nil || core.KindOf(err) != core.KindInternal {
		t.Errorf("a key KMS does not know: %v (kind %s), want internal", err, core.KindOf(err))
	}
}

// TestSignRS256AsksKMSForPKCS1v15: the first key signs the RAW message with
// RSASSA_PKCS1_V1_5_SHA_256; an input over KMS's limit is refused before any call; a
// signature of no RSA key size is refused; errors are classified as for access tokens.
func TestSignRS256AsksKMSForPKCS1v15(t *testing.T) {
	priv := testRSAKey()
	f := &fakeKMS{priv: priv}
	s := kmssign.NewIDSigner(f, []string{"first", "second"})
	input := []byte("header.payload")
	sig, err := s.SignRS256(context.Background(), input)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(input)
	if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	in := f.signed[0]
	if aws.ToString(in.KeyId) != "first" || in.MessageType != types.MessageTypeRaw ||
		in.SigningAlgorithm != types.SigningAlgorithmSpecRsassaPkcs1V15Sha256 || string(in.Message) != string(input) {
		t.Fatalf("sign request %+v", in)
	}

	if _, err := s.SignRS256(context.Background(), make([]byte, kmssign.MaxInput+1)); err == nil || !strings.Contains(err.Error(), "4096") || len(f.signed) != 1 {
		t.Errorf("oversized input: %v after %d calls", err, len(f.signed))
	}
	f.sigLen = 64 // an ES256 signature
	if _, err := s.SignRS256(context.Background(), input); err == nil || core.KindOf(err) != core.KindInternal {
		t.Errorf("a 64-byte signature: %v", err)
	}
	f.sigLen = 0
	for _, c := range []struct {
		err  error
		kind core.Kind
	}{
		{&types.DisabledException{Message: aws.String("disabled")}, core.KindInternal},
		{&types.InvalidKeyUsageException{Message: aws.String("usage")}, core.KindInternal},
		{&types.KMSInvalidStateException{Message: aws.String("pending deletion")}, core.KindInternal},
		{&types.NotFoundException{Message: aws.String("gone")}, core.KindInternal},
		{errors.New("ThrottlingException"), core.KindUnavailable},
		{context.DeadlineExceeded, core.KindUnavailable},
	} {
		f.signErr = c.err
		if _, err := s.SignRS256(context.Background(), input); core.KindOf(err) != c.kind {
			t.Errorf("KMS answering %v: kind %s, want %s", c.err, core.KindOf(err), c.kind)
		}
	}
	if _, err := kmssign.NewIDSigner(f, nil).SignRS256(context.Background(), input); err == nil {
		t.Error("signed with no key configured")
	}
	if err := s.Ping(context.Background()); err != nil || len(f.describe) != 1 || f.describe[0] != "first" {
		t.Errorf("ping: %v, DescribeKey of %v, want of the signing key", err, f.describe)
	}
}

// TestUnreachableKMSIsUnavailableForIDTokens: a KMS that accepts and never answers makes the
// ID-token keys and Ping unavailable within the caller's deadline.
func TestUnreachableKMSIsUnavailableForIDTokens(t *testing.T) {
	api := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(testenv.HungEndpoint(t)), Credentials: aws.AnonymousCredentials{}})
	s := kmssign.NewIDSigner(api, []string{"alias/hung"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.IDKeys(ctx); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("err = %v (kind %s), want unavailable", err, core.KindOf(err))
	}
	if _, err := s.SignRS256(ctx, []byte("x")); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("sign: %v", err)
	}
	if err := s.Ping(ctx); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("ping: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("a hung KMS held the calls for %s", time.Since(start))
	}
}
