package coretest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"sync/atomic"

	"github.com/latchkey/latchkey/core"
)

// Signer is an in-memory core.Signer over local P-256 keys, for fast core unit tests. The
// first key signs; all are published. It counts Sign calls.
type Signer struct {
	keys  []*ecdsa.PrivateKey
	pubs  []core.PublicKey
	Signs atomic.Int32
}

var _ core.Signer = (*Signer)(nil)

// NewSigner returns a signer over n fresh keys.
func NewSigner(n int) *Signer {
	s := &Signer{}
	for range n {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		pub, err := core.NewPublicKey(&k.PublicKey)
		if err != nil {
			panic(err)
		}
		s.keys = append(s.keys, k)
		s.pubs = append(s.pubs, pub)
	}
	return s
}

// PublicKeys implements core.Signer.
func (s *Signer) PublicKeys(context.Context) ([]core.PublicKey, error) { return s.pubs, nil }

// Sign implements core.Signer: ECDSA P-256 over SHA-256 of input, as r‖s.
func (s *Signer) Sign(_ context.Context, input []byte) ([]byte, error) {
	s.Signs.Add(1)
	h := sha256.Sum256(input)
	r, ss, err := ecdsa.Sign(rand.Reader, s.keys[0], h[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return sig, nil
}

// Rotated returns a signer that signs with a new key and still publishes s's keys after it:
// what an operator gets by putting a new key first in LATCHKEY_SIGNING_KEYS.
func (s *Signer) Rotated() *Signer {
	n := NewSigner(1)
	n.keys = append(n.keys, s.keys...)
	n.pubs = append(n.pubs, s.pubs...)
	return n
}

// Without returns a signer that publishes only s's first key: an old key taken out of the
// configuration once its tokens have expired.
func (s *Signer) Without() *Signer {
	return &Signer{keys: s.keys[:1], pubs: s.pubs[:1]}
}
