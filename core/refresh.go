package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// refreshPrefix versions the refresh-token format.
const refreshPrefix = "lkr1."

// RefreshClaims is what a refresh token carries. Everything but Generation is fixed for the
// life of the session, so an access token can be minted from the token alone, concurrently
// with the write that rotates it.
type RefreshClaims struct {
	SessionID  string
	UserID     string
	Generation uint64
	AuthTime   time.Time
	AMR        []string
	Scope      string
}

// RefreshCodec mints and checks refresh tokens: "lkr1." + base64url(payload) + "." +
// base64url(HMAC-SHA256(key, "lkr1." + payload)). The MAC makes the token unforgeable and is
// its 256 bits of secret; the store keeps only the session's current generation, so a token
// can be re-derived (a retry within the grace window gets the same successor) but a stolen
// table dump yields no usable token. This replaces the per-session nonce of ARCHITECTURE.md §4:
// the MAC is checked before any I/O, so a caller who knows a session id cannot touch it.
type RefreshCodec struct {
	key []byte
}

// NewRefreshCodec returns a codec keyed with key, which must hold at least 256 bits.
func NewRefreshCodec(key []byte) (*RefreshCodec, error) {
	if len(key) < 32 {
		return nil, Wrap("core.NewRefreshCodec", errors.New("refresh HMAC key is shorter than 32 bytes"))
	}
	return &RefreshCodec{key: append([]byte(nil), key...)}, nil
}

// Mint returns the refresh token for c.
func (r *RefreshCodec) Mint(c RefreshClaims) string {
	var p []byte
	p = appendField(p, c.SessionID)
	p = appendField(p, c.UserID)
	p = binary.AppendUvarint(p, c.Generation)
	p = binary.AppendVarint(p, c.AuthTime.Unix())
	p = appendField(p, strings.Join(c.AMR, " "))
	p = appendField(p, c.Scope)
	body := refreshPrefix + base64.RawURLEncoding.EncodeToString(p)
	return body + "." + base64.RawURLEncoding.EncodeToString(r.mac(body))
}

// Parse checks token's MAC in constant time and returns its claims. Any failure is
// KindUnauthenticated with no hint of which part was wrong.
func (r *RefreshCodec) Parse(token string) (RefreshClaims, error) {
	const op = "core.RefreshCodec.Parse"
	bad := E(op, KindUnauthenticated, "invalid refresh token", nil)
	if len(token) > 1024 || !strings.HasPrefix(token, refreshPrefix) {
		return RefreshClaims{}, bad
	}
	dot := strings.LastIndexByte(token, '.')
	body, macPart := token[:dot], token[dot+1:]
	mac, err := base64.RawURLEncoding.DecodeString(macPart)
	if err != nil || !hmac.Equal(mac, r.mac(body)) {
		return RefreshClaims{}, bad
	}
	p, err := base64.RawURLEncoding.DecodeString(body[len(refreshPrefix):])
	if err != nil {
		return RefreshClaims{}, bad
	}
	var c RefreshClaims
	var amr string
	var auth int64
	ok := true
	p, c.SessionID, ok = readField(p, ok)
	p, c.UserID, ok = readField(p, ok)
	p, c.Generation, ok = readUvarint(p, ok)
	p, auth, ok = readVarint(p, ok)
	p, amr, ok = readField(p, ok)
	p, c.Scope, ok = readField(p, ok)
	if !ok || len(p) != 0 || c.SessionID == "" || c.UserID == "" {
		return RefreshClaims{}, bad
	}
	c.AuthTime = time.Unix(auth, 0)
	if amr != "" {
		c.AMR = strings.Split(amr, " ")
	}
	return c, nil
}

func (r *RefreshCodec) mac(body string) []byte {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

func appendField(p []byte, s string) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

func readField(p []byte, ok bool) ([]byte, string, bool) {
	p, n, ok := readUvarint(p, ok)
	if !ok || n > uint64(len(p)) {
		return nil, "", false
	}
	return p[n:], string(p[:n]), true
}

func readUvarint(p []byte, ok bool) ([]byte, uint64, bool) {
	if !ok {
		return nil, 0, false
	}
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return nil, 0, false
	}
	return p[n:], v, true
}

func readVarint(p []byte, ok bool) ([]byte, int64, bool) {
	if !ok {
		return nil, 0, false
	}
	v, n := binary.Varint(p)
	if n <= 0 {
		return nil, 0, false
	}
	return p[n:], v, true
}
