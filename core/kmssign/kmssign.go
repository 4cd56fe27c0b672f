// Package kmssign signs Latchkey's tokens inside AWS KMS (the HSM path), so only public keys
// ever reach a Latchkey process: Signer is the core.Signer of access tokens over ECC_NIST_P256
// keys (ES256), IDSigner the core.IDSigner of ID tokens over RSA keys (RS256).
package kmssign

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/latchkey/latchkey/core"
)

// MaxInput is the largest message KMS signs with MessageType RAW.
const MaxInput = 4096

// API is the part of the KMS client the signer uses.
type API interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, opts ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
}

// Signer signs with the first of a list of KMS keys and publishes all of them, so keys rotate
// with overlap: put the new key first and keep the old one listed until its tokens expire.
type Signer struct {
	ring keyRing
	keys loaded[core.PublicKey]
}

var _ core.Signer = (*Signer)(nil)

// New returns a signer over keyIDs (key ids, ARNs or aliases), the first of which signs.
func New(api API, keyIDs []string) *Signer {
	return &Signer{ring: keyRing{api: api, ids: keyIDs, what: "signing keys"}}
}

// PublicKeys fetches every key's public half with kms:GetPublicKey on first use and caches the
// result for the life of the process. A failed load is not cached, so the next call retries.
func (s *Signer) PublicKeys(ctx context.Context) ([]core.PublicKey, error) {
	return s.keys.get(func() ([]core.PublicKey, error) {
		return publicKeys(ctx, s.ring, "kmssign.PublicKeys", func(id string, out *kms.GetPublicKeyOutput, pub any) (core.PublicKey, error) {
			// moto leaves KeySpec empty; the curve is checked again on the parsed key.
			if (out.KeySpec != "" && out.KeySpec != types.KeySpecEccNistP256) || out.KeyUsage != types.KeyUsageTypeSignVerify {
				return core.PublicKey{}, fmt.Errorf("key %s is %s/%s, want ECC_NIST_P256/SIGN_VERIFY", id, out.KeySpec, out.KeyUsage)
			}
			ec, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return core.PublicKey{}, fmt.Errorf("key %s is not an EC key", id)
			}
			return core.NewPublicKey(ec)
		})
	})
}

// keyRing is a list of KMS keys of which the first signs and all are published: what the
// access-token Signer and the IDSigner share. what names the list in the error of a deployment
// that configured none.
type keyRing struct {
	api  API
	ids  []string
	what string
}

// signer is the key that signs: the first.
func (r keyRing) signer(op core.Op) (string, error) {
	if len(r.ids) == 0 {
		return "", core.Wrap(op, fmt.Errorf("no %s configured", r.what))
	}
	return r.ids[0], nil
}

// sign signs input with the first key by alg over the RAW message (KMS hashes it) and answers
// the signature as KMS returns it.
func (r keyRing) sign(ctx context.Context, op core.Op, input []byte, alg types.SigningAlgorithmSpec) ([]byte, error) {
	if len(input) > MaxInput {
		return nil, core.Wrap(op, fmt.Errorf("signing input is %d bytes, over KMS's %d-byte limit for RAW messages", len(input), MaxInput))
	}
	id, err := r.signer(op)
	if err != nil {
		return nil, err
	}
	out, err := r.api.Sign(ctx, &kms.SignInput{KeyId: aws.String(id), Message: input, MessageType: types.MessageTypeRaw, SigningAlgorithm: alg})
	if err != nil {
		return nil, classify(op, err)
	}
	return out.Signature, nil
}

// ping checks that KMS answers for the signing key; the readiness probe calls it.
func (r keyRing) ping(ctx context.Context) error {
	const op = "kmssign.Ping"
	id, err := r.signer(op)
	if err != nil {
		return err
	}
	if _, err := r.api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)}); err != nil {
		return classify(op, err)
	}
	return nil
}

// publicKeys fetches the public half of every key of r with kms:GetPublicKey, in order, and
// parses it; accept checks what KMS reports of the key and makes the parsed key a K, or
// refuses it (internal: the deployment is wrong).
func publicKeys[K any](ctx context.Context, r keyRing, op core.Op, accept func(id string, out *kms.GetPublicKeyOutput, pub any) (K, error)) ([]K, error) {
	if len(r.ids) == 0 {
		return nil, core.Wrap(op, fmt.Errorf("no %s configured", r.what))
	}
	keys := make([]K, 0, len(r.ids))
	for _, id := range r.ids {
		out, err := r.api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
		if err != nil {
			return nil, classify(op, err)
		}
		pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
		if err != nil {
			return nil, core.Wrap(op, fmt.Errorf("key %s: %w", id, err))
		}
		k, err := accept(id, out, pub)
		if err != nil {
			return nil, core.Wrap(op, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// loaded holds a list of public keys loaded once per process: the first successful load is
// kept for the life of the process and read without a lock; a failed load is not kept, so the
// next call retries.
type loaded[K any] struct {
	mu   sync.Mutex          // serializes loads
	keys atomic.Pointer[[]K] // nil until a load succeeds
}

// get returns the loaded keys, calling load if none are loaded yet.
func (l *loaded[K]) get(load func() ([]K, error)) ([]K, error) {
	if keys := l.keys.Load(); keys != nil {
		return *keys, nil // the hot path of every verification: no lock
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if keys := l.keys.Load(); keys != nil {
		return *keys, nil
	}
	keys, err := load()
	if err != nil {
		return nil, err
	}
	l.keys.Store(&keys)
	return keys, nil
}

// Sign signs input with the first key using ECDSA_SHA_256 over the RAW message (KMS hashes it)
// and converts KMS's DER signature into the JWS r‖s form.
func (s *Signer) Sign(ctx context.Context, input []byte) ([]byte, error) {
	const op = "kmssign.Sign"
	der, err := s.ring.sign(ctx, op, input, types.SigningAlgorithmSpecEcdsaSha256)
	if err != nil {
		return nil, err
	}
	sig, err := JOSE(der)
	if err != nil {
		return nil, core.Wrap(op, err)
	}
	return sig, nil
}

// Ping checks that KMS answers for the signing key; the readiness probe calls it.
func (s *Signer) Ping(ctx context.Context) error { return s.ring.ping(ctx) }

// JOSE converts an ASN.1 DER ECDSA-Sig-Value (what KMS returns) into the 64-byte r‖s that a
// JWS ES256 signature must be (RFC 7518 §3.4), left-padding each integer to 32 bytes.
func JOSE(der []byte) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("kms signature is not a DER ECDSA-Sig-Value")
	}
	if v.R.Sign() <= 0 || v.S.Sign() <= 0 || v.R.BitLen() > 256 || v.S.BitLen() > 256 {
		return nil, errors.New("kms signature integers are out of range for P-256")
	}
	sig := make([]byte, 64)
	v.R.FillBytes(sig[:32])
	v.S.FillBytes(sig[32:])
	return sig, nil
}

// classify maps a KMS call error: a key that is missing, disabled or not ours is a
// misconfiguration (internal); anything else — network, throttling, timeouts — means KMS is
// unavailable right now.
func classify(op core.Op, err error) error {
	var (
		notFound *types.NotFoundException
		disabled *types.DisabledException
		state    *types.KMSInvalidStateException
		invalid  *types.InvalidKeyUsageException
	)
	if errors.As(err, &notFound) || errors.As(err, &disabled) || errors.As(err, &state) || errors.As(err, &invalid) {
		return core.Wrap(op, err)
	}
	return core.E(op, core.KindUnavailable, "signing service unavailable", err)
}
