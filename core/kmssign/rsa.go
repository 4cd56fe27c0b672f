package kmssign

import (
	"context"
	"crypto/rsa"
	"fmt"
	"slices"

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
	ring keyRing
	keys loaded[core.RSAPublicKey]
}

var _ core.IDSigner = (*IDSigner)(nil)

// NewIDSigner returns an ID-token signer over keyIDs (key ids, ARNs or aliases of RSA
// SIGN_VERIFY keys), the first of which signs.
func NewIDSigner(api API, keyIDs []string) *IDSigner {
	return &IDSigner{ring: keyRing{api: api, ids: keyIDs, what: "ID-token keys"}}
}

// IDKeys fetches every key's public half with kms:GetPublicKey on first use and caches the
// result for the life of the process. A failed load is not cached, so the next call retries.
// A key that is not an RSA SIGN_VERIFY key of at least 2048 bits with the exponent 65537, or
// cannot sign RSASSA_PKCS1_V1_5_SHA_256, is refused (internal: the deployment is wrong).
func (s *IDSigner) IDKeys(ctx context.Context) ([]core.RSAPublicKey, error) {
	return s.keys.get(func() ([]core.RSAPublicKey, error) {
		return publicKeys(ctx, s.ring, "kmssign.IDKeys", func(id string, out *kms.GetPublicKeyOutput, pub any) (core.RSAPublicKey, error) {
			// moto leaves KeySpec (and SigningAlgorithms) empty; the parsed key is checked
			// whatever KMS reports.
			if (out.KeySpec != "" && !slices.Contains(rsaKeySpecs, out.KeySpec)) || out.KeyUsage != types.KeyUsageTypeSignVerify {
				return core.RSAPublicKey{}, fmt.Errorf("key %s is %s/%s, want RSA_2048, RSA_3072 or RSA_4096 with SIGN_VERIFY", id, out.KeySpec, out.KeyUsage)
			}
			if len(out.SigningAlgorithms) > 0 && !slices.Contains(out.SigningAlgorithms, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256) {
				return core.RSAPublicKey{}, fmt.Errorf("key %s cannot sign %s", id, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256)
			}
			rk, ok := pub.(*rsa.PublicKey)
			if !ok {
				return core.RSAPublicKey{}, fmt.Errorf("key %s is not an RSA key", id)
			}
			k, err := core.NewRSAPublicKey(rk)
			if err != nil {
				return core.RSAPublicKey{}, fmt.Errorf("key %s: %w", id, err)
			}
			return k, nil
		})
	})
}

// SignRS256 signs input with the first key using RSASSA_PKCS1_V1_5_SHA_256 over the RAW
// message (KMS hashes it). The signature KMS returns is already the JWS RS256 form (RFC 7518
// §3.3): the modulus-sized big-endian integer, nothing to convert.
func (s *IDSigner) SignRS256(ctx context.Context, input []byte) ([]byte, error) {
	const op = "kmssign.SignRS256"
	sig, err := s.ring.sign(ctx, op, input, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256)
	if err != nil {
		return nil, err
	}
	// A signature of one of the RSA key specs is 256, 384 or 512 bytes.
	if n := len(sig); n != 256 && n != 384 && n != 512 {
		return nil, core.Wrap(op, fmt.Errorf("kms returned a %d-byte signature, not one of an RSA 2048, 3072 or 4096-bit key", n))
	}
	return sig, nil
}

// Ping checks that KMS answers for the signing ID-token key; the readiness probe calls it.
func (s *IDSigner) Ping(ctx context.Context) error { return s.ring.ping(ctx) }
