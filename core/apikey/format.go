package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"math/big"
	"strings"
)

// An API key reads lk_<env>_<random><check> (the scheme of GitHub's tokens): env is live or
// test, random is 32 bytes from the CSPRNG in base62 (0-9A-Za-z), fixed at 43 characters and
// left-padded with 0, and check is the CRC32 (IEEE) of everything before it in base62, fixed
// at 6 characters. The prefix tells a leaked key's kind to secret scanners and people; the
// checksum lets Parse refuse a mistyped or invented key without a read.
const (
	alphabet     = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomBytes  = 32
	randomLength = 43 // ⌈256 / log2(62)⌉
	checkLength  = 6  // ⌈32 / log2(62)⌉
	scheme       = "lk_"
)

// Envs are the environments a key may name.
var Envs = []string{"live", "test"}

// base62 is n in the alphabet, left-padded with 0 to width characters. n must fit.
func base62(n *big.Int, width int) string {
	out := []byte(strings.Repeat("0", width))
	n = new(big.Int).Set(n)
	base, rem := big.NewInt(62), new(big.Int)
	for i := width - 1; i >= 0 && n.Sign() > 0; i-- {
		n.QuoRem(n, base, rem)
		out[i] = alphabet[rem.Int64()]
	}
	return string(out)
}

// decode62 is the value of s in the alphabet; false if s holds another character.
func decode62(s string) (*big.Int, bool) {
	n, base := new(big.Int), big.NewInt(62)
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(alphabet, s[i])
		if d < 0 {
			return nil, false
		}
		n.Mul(n, base).Add(n, big.NewInt(int64(d)))
	}
	return n, true
}

// checksum is the check characters of body, the key up to them.
func checksum(body string) string {
	return base62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))), checkLength)
}

// newKey returns a fresh key of env.
func newKey(env string) string {
	var b [randomBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	body := scheme + env + "_" + base62(new(big.Int).SetBytes(b[:]), randomLength)
	return body + checksum(body)
}

// maxRandom is 2^256: a random part at or above it was not made by newKey.
var maxRandom = new(big.Int).Lsh(big.NewInt(1), 8*randomBytes)

// Looks reports whether s claims to be an API key (it starts lk_), as opposed to an access
// token: the authorizer tells the two apart by this alone, and Parse then decides.
func Looks(s string) bool { return strings.HasPrefix(s, scheme) }

// Parse checks that s has the shape of a key of env made by newKey: the prefix, the
// environment, the length, the alphabet, a random part below 2^256 and the checksum. All of it
// is local, so a mistyped, truncated or invented key costs no read. It returns the hash the
// key is stored under.
func Parse(s, env string) ([]byte, bool) {
	body, ok := strings.CutPrefix(s, scheme+env+"_")
	if !ok || len(body) != randomLength+checkLength {
		return nil, false
	}
	random, ok := decode62(body[:randomLength])
	if !ok || random.Cmp(maxRandom) >= 0 {
		return nil, false
	}
	if _, ok := decode62(body[randomLength:]); !ok || checksum(s[:len(s)-checkLength]) != body[randomLength:] {
		return nil, false
	}
	return Hash(s), true
}

// Hash is the SHA-256 of the whole key, as the store keeps and looks it up.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// prefixOf and last4Of are the parts of key its listing shows.
func prefixOf(key, env string) string { return key[:len(scheme)+len(env)+1+4] }
func last4Of(key string) string       { return key[len(key)-4:] }
