package kmssign

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/latchkey/latchkey/core"
)

// rsaKeySpecs are the KMS key specs an ID-token key may have: every RSA spec of KMS, all at
// least the 2048 bits RS256 requires (RFC 7518 §3.3).
var rsaKeySpecs = []types.KeySpec{types.KeySpecRsa2048, types.KeySpecRsa3072, types.KeySpecRsa4096}

// IDSigner signs ID tokens (RS256) with the first of a list of KMS RSA keys and publishes all
// of them, so the keys rotate with overlap as the access-token keys do: put the new key first
// and keep the old one listed until the ID tokens it signed have expired.
type IDSigner struct {
	api    API
	keyIDs []string
	keys   loaded[core.RSAPublicKey]
}

var _ core.IDSigner = (*IDSigner)(nil)

// NewIDSigner returns an ID-token signer over keyIDs (key ids, ARNs or aliases of RSA
// SIGN_VERIFY keys), the first of which signs.
func NewIDSigner(api API, keyIDs []string) *IDSigner {
	return &IDSigner{api: api, keyIDs: keyIDs}
}

// IDKeys fetches every key's public half with kms:GetPublicKey on first use and caches the
// result for the life of the process. A failed load is not cached, so the next call retries.
// A key that is not an RSA SIGN_VERIFY key of at least 2048 bits with the exponent 65537, or
// cannot sign RSASSA_PKCS1_V1_5_SHA_256, is refused (internal: the deployment is wrong).
func (s *IDSigner) IDKeys(ctx context.Context) ([]core.RSAPublicKey, error) {
	const op = "kmssign.IDKeys"
	return s.keys.get(func() ([]core.RSAPublicKey, error) {
		if len(s.keyIDs) == 0 {
			return nil, core.Wrap(op, errors.New("no ID-token keys configured"))
		}
		keys := make([]core.RSAPublicKey, 0, len(s.keyIDs))
		for _, id := range s.keyIDs {
			out, err := s.api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
			if err != nil {
				return nil, classify(op, err)
			}
			// moto leaves KeySpec (and SigningAlgorithms) empty; the parsed key is checked below
			// whatever KMS reports.
			if (out.KeySpec != "" && !slices.Contains(rsaKeySpecs, out.KeySpec)) || out.KeyUsage != types.KeyUsageTypeSignVerify {
				return nil, core.Wrap(op, fmt.Errorf("key %s is %s/%s, want RSA_2048, RSA_3072 or RSA_4096 with SIGN_VERIFY", id, out.KeySpec, out.KeyUsage))
			}
			if len(out.SigningAlgorithms) > 0 && !slices.Contains(out.SigningAlgorithms, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256) {
				return nil, core.Wrap(op, fmt.Errorf("key %s cannot sign %s", id, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256))
			}
			pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
			if err != nil {
				return nil, core.Wrap(op, fmt.Errorf("key %s: %w", id, err))
			}
			rk, ok := pub.(*rsa.PublicKey)
			if !ok {
				return nil, core.Wrap(op, fmt.Errorf("key %s is not an RSA key", id))
			}
			k, err := core.NewRSAPublicKey(rk)
			if err != nil {
				return nil, core.Wrap(op, fmt.Errorf("key %s: %w", id, err))
			}
			keys = append(keys, k)
		}
		return keys, nil
	})
}

// SignRS256 signs input with the first key using RSASSA_PKCS1_V1_5_SHA_256 over the RAW
// message (KMS hashes it). The signature KMS returns is already the JWS RS256 form (RFC 7518
// §3.3): the modulus-sized big-endian integer, nothing to convert.
func (s *IDSigner) SignRS256(ctx context.Context, input []byte) ([]byte, error) {
	const op = "kmssign.SignRS256"
	if len(input) > MaxInput {
		return nil, core.Wrap(op, fmt.Errorf("signing input is %d bytes, over KMS's %d-byte limit for RAW messages", len(input), MaxInput))
	}
	if len(s.keyIDs) == 0 {
		return nil, core.Wrap(op, errors.New("no ID-token keys configured"))
	}
	out, err := s.api.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.keyIDs[0]),
		Message:          input,
		MessageType:      types.MessageTypeRaw,
		SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256,
	})
	if err != nil {
		return nil, classify(op, err)
	}
	// A signature of one of the RSA key specs is 256, 384 or 512 bytes.
	if n := len(out.Signature); n != 256 && n != 384 && n != 512 {
		return nil, core.Wrap(op, fmt.Errorf("kms returned a %d-byte signature, not one of an RSA 2048, 3072 or 4096-bit key", n))
	}
	return out.Signature, nil
}

// Ping checks that KMS answers for the signing ID-token key; the readiness probe calls it.
func (s *IDSigner) Ping(ctx context.Context) error {
	const op = "kmssign.Ping"
	if len(s.keyIDs) == 0 {
		return core.Wrap(op, errors.New("no ID-token keys configured"))
	}
	if _, err := s.api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(s.keyIDs[0])}); err != nil {
		return classify(op, err)
	}
	return nil
}
