package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core/internal/field"
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
// table dump yields no usable token. It needs no per-session nonce: the MAC is checked before
// any I/O, so a caller who knows a session id cannot touch it.
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
	p = field.AppendString(p, c.SessionID)
	p = field.AppendString(p, c.UserID)
	p = field.AppendUvarint(p, c.Generation)
	p = field.AppendVarint(p, c.AuthTime.Unix())
	p = field.AppendString(p, strings.Join(c.AMR, " "))
	p = field.AppendString(p, c.Scope)
	body := refreshPrefix + base64.RawURLEncoding.EncodeToString(p)
	return body + "." + base64.RawURLEncoding.EncodeToString(r.mac(body))
}

// Parse checks token's MAC in constant time and returns its claims. Any failure is
// KindUnauthenticated with no hint of which part was wrong.
func (rc *RefreshCodec) Parse(token string) (RefreshClaims, error) {
	const op = "core.RefreshCodec.Parse"
	bad := E(op, KindUnauthenticated, "invalid refresh token", nil)
	if len(token) > 1024 || !strings.HasPrefix(token, refreshPrefix) {
		return RefreshClaims{}, bad
	}
	dot := strings.LastIndexByte(token, '.')
	body, macPart := token[:dot], token[dot+1:]
	mac, err := base64.RawURLEncoding.DecodeString(macPart)
	if err != nil || !hmac.Equal(mac, rc.mac(body)) {
		return RefreshClaims{}, bad
	}
	p, err := base64.RawURLEncoding.DecodeString(body[len(refreshPrefix):])
	if err != nil {
		return RefreshClaims{}, bad
	}
	r := field.NewReader(p)
	c := RefreshClaims{SessionID: r.String(), UserID: r.String(), Generation: r.Uvarint()}
	auth := r.Varint()
	amr := r.String()
	c.Scope = r.String()
	if !r.Done() || c.SessionID == "" || c.UserID == "" {
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
