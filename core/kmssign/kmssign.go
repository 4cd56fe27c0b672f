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
	api    API
	keyIDs []string

	keys loaded[core.PublicKey]
}

var _ core.Signer = (*Signer)(nil)

// New returns a signer over keyIDs (key ids, ARNs or aliases), the first of which signs.
func New(api API, keyIDs []string) *Signer {
	return &Signer{api: api, keyIDs: keyIDs}
}

// PublicKeys fetches every key's public half with kms:GetPublicKey on first use and caches the
// result for the life of the process. A failed load is not cached, so the next call retries.
func (s *Signer) PublicKeys(ctx context.Context) ([]core.PublicKey, error) {
	const op = "kmssign.PublicKeys"
	return s.keys.get(func() ([]core.PublicKey, error) {
		if len(s.keyIDs) == 0 {
			return nil, core.Wrap(op, errors.New("no signing keys configured"))
		}
		keys := make([]core.PublicKey, 0, len(s.keyIDs))
		for _, id := range s.keyIDs {
			out, err := s.api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
			if err != nil {
				return nil, classify(op, err)
			}
			// moto leaves KeySpec empty; the curve is checked again on the parsed key below.
			if (out.KeySpec != "" && out.KeySpec != types.KeySpecEccNistP256) || out.KeyUsage != types.KeyUsageTypeSignVerify {
				return nil, core.Wrap(op, fmt.Errorf("key %s is %s/%s, want ECC_NIST_P256/SIGN_VERIFY", id, out.KeySpec, out.KeyUsage))
			}
			pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
			if err != nil {
				return nil, core.Wrap(op, fmt.Errorf("key %s: %w", id, err))
			}
			ec, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return nil, core.Wrap(op, fmt.Errorf("key %s is not an EC key", id))
			}
			k, err := core.NewPublicKey(ec)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		return keys, nil
	})
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
	if len(input) > MaxInput {
		return nil, core.Wrap(op, fmt.Errorf("signing input is %d bytes, over KMS's %d-byte limit for RAW messages", len(input), MaxInput))
	}
	if len(s.keyIDs) == 0 {
		return nil, core.Wrap(op, errors.New("no signing keys configured"))
	}
	out, err := s.api.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.keyIDs[0]),
		Message:          input,
		MessageType:      types.MessageTypeRaw,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, classify(op, err)
	}
	sig, err := JOSE(out.Signature)
	if err != nil {
		return nil, core.Wrap(op, err)
	}
	return sig, nil
}

// Ping checks that KMS answers for the signing key; the readiness probe calls it.
func (s *Signer) Ping(ctx context.Context) error {
	if len(s.keyIDs) == 0 {
		return core.Wrap("kmssign.Ping", errors.New("no signing keys configured"))
	}
	if _, err := s.api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(s.keyIDs[0])}); err != nil {
		return classify("kmssign.Ping", err)
	}
	return nil
}

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
