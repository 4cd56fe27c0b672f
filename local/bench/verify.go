package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"syscall"
	"time"
)

// verifyBaseline is the unit of the bench's ratios: one bare P-256 ECDSA verification with
// crypto/ecdsa of a SHA-256 digest (what verifying an ES256 token costs at the least), timed
// as CPU of the measuring thread, in the same run as the requests.
type verifyBaseline struct {
	pub    *ecdsa.PublicKey
	digest []byte
	sig    []byte
}

func newVerifyBaseline() *verifyBaseline {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	d := sha256.Sum256([]byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		panic(err)
	}
	return &verifyBaseline{pub: &key.PublicKey, digest: d[:], sig: sig}
}

// measure returns the CPU of one verification, averaged over n, read with
// getrusage(RUSAGE_THREAD) on a locked thread.
func (v *verifyBaseline) measure(n int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for range 50 { // warm the caches and the precomputed tables
		ecdsa.VerifyASN1(v.pub, v.digest, v.sig)
	}
	before := threadCPU()
	for range n {
		if !ecdsa.VerifyASN1(v.pub, v.digest, v.sig) {
			panic("bad signature")
		}
	}
	return (threadCPU() - before) / time.Duration(n)
}

const rusageThread = 1 // RUSAGE_THREAD

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
