package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator is a software WebAuthn authenticator for tests, so that the ceremonies run end to
// end without a browser: it holds ES256 (P-256) resident credentials, attests with the "none"
// format, verifies its user, and turns the options JSON a server sends
// (PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON) into the
// WebAuthn Level 3 JSON a browser's PublicKeyCredential.toJSON() produces
// (RegistrationResponseJSON, AuthenticationResponseJSON). It plays the client's part too: it
// writes clientDataJSON with Origin. Safe for concurrent use.
type Authenticator struct {
	Origin         string   // the origin the "client" puts into clientDataJSON
	AAGUID         [16]byte // reported at registration; zero, as many passkey providers send with "none"
	BackupEligible bool     // BE: the credential may be synced
	BackupState    bool     // BS: the credential is synced
	Counting       bool     // keep a signature counter; false answers 0 always, as synced passkeys do
	Transports     []string // reported at registration; nil means ["internal", "hybrid"]

	mu    sync.Mutex
	creds []*SoftCredential
}

// SoftCredential is one credential the Authenticator holds: its private key and what it was
// created for.
type SoftCredential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	SignCount  uint32
}

// Clone returns a copy of c sharing its key: the cloned authenticator of WebAuthn §6.1.1, whose
// counter goes its own way.
func (c *SoftCredential) Clone() *SoftCredential {
	d := *c
	return &d
}

// IDString is the credential id as the API shows it: base64url without padding.
func (c *SoftCredential) IDString() string { return base64.RawURLEncoding.EncodeToString(c.ID) }

// Tweaks bend one ceremony the way a broken or malicious client or authenticator would.
type Tweaks struct {
	Origin         string          // clientDataJSON origin instead of Authenticator.Origin
	RPID           string          // hash this RP ID into authenticatorData instead of the options'
	Type           string          // clientDataJSON type instead of webauthn.create / webauthn.get
	Challenge      string          // clientDataJSON challenge instead of the options'
	NoUV           bool            // leave the user-verified flag unset
	CredentialID   []byte          // Create: use this credential id
	Credential     *SoftCredential // Get: sign with this credential, held or not (a clone, a stolen key)
	UserHandle     []byte          // Get: report this user handle instead of the credential's
	OmitUserHandle bool            // Get: report no user handle, as a non-discoverable credential may
	OffCurveKey    bool            // Create: attest a public key whose point is not on P-256
}

// NewAuthenticator returns an authenticator whose client runs at origin, with a counter and
// backup-eligible, backed-up credentials (a synced passkey that counts).
func NewAuthenticator(origin string) *Authenticator {
	return &Authenticator{Origin: origin, Counting: true, BackupEligible: true, BackupState: true}
}

// Credentials returns the credentials the authenticator holds, oldest first.
func (a *Authenticator) Credentials() []*SoftCredential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*SoftCredential(nil), a.creds...)
}

// creationOptions is the part of PublicKeyCredentialCreationOptionsJSON the authenticator reads.
type creationOptions struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	ExcludeCredentials []struct {
		ID string `json:"id"`
	} `json:"excludeCredentials"`
	AuthenticatorSelection struct {
		UserVerification string `json:"userVerification"`
	} `json:"authenticatorSelection"`
}

// requestOptions is the part of PublicKeyCredentialRequestOptionsJSON the authenticator reads.
type requestOptions struct {
	Challenge        string `json:"challenge"`
	RPID             string `json:"rpId"`
	AllowCredentials []struct {
		ID string `json:"id"`
	} `json:"allowCredentials"`
}

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 1 << 0
	flagUV = 1 << 2
	flagBE = 1 << 3
	flagBS = 1 << 4
	flagAT = 1 << 6
)

var b64 = base64.RawURLEncoding

// Create runs navigator.credentials.create() on the options JSON (the "publicKey" member the
// server sent) and returns the RegistrationResponseJSON and the new credential, which the
// authenticator keeps.
func (a *Authenticator) Create(optionsJSON []byte, tw Tweaks) ([]byte, *SoftCredential, error) {
	var o creationOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, nil, fmt.Errorf("creation options: %w", err)
	}
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil || len(handle) == 0 {
		return nil, nil, errors.New("creation options: user.id is not base64url")
	}
	for _, ex := range o.ExcludeCredentials {
		for _, c := range a.Credentials() {
			if ex.ID == c.IDString() && c.RPID == o.RP.ID {
				return nil, nil, errors.New("InvalidStateError: the authenticator already holds an excluded credential")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	id := tw.CredentialID
	if id == nil {
		id = make([]byte, 32)
		if _, err := rand.Read(id); err != nil {
			return nil, nil, err
		}
	}
	cred := &SoftCredential{ID: id, RPID: o.RP.ID, UserHandle: handle, Key: key}

	cdj := a.clientData(tw, "webauthn.create", o.Challenge)
	cose, err := coseKey(&key.PublicKey, tw.OffCurveKey)
	if err != nil {
		return nil, nil, err
	}
	var attested []byte
	attested = append(attested, a.AAGUID[:]...)
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(id)))
	attested = append(attested, id...)
	attested = append(attested, cose...)
	authData := a.authData(tw, o.RP.ID, flagAT, 0, attested)
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	transports := a.Transports
	if transports == nil {
		transports = []string{"internal", "hybrid"}
	}
	resp, err := json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(id),
		"rawId":                   b64.EncodeToString(id),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":     b64.EncodeToString(cdj),
			"attestationObject":  b64.EncodeToString(attObj),
			"authenticatorData":  b64.EncodeToString(authData),
			"publicKey":          b64.EncodeToString(spki),
			"publicKeyAlgorithm": -7,
			"transports":         transports,
		},
	})
	if err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	a.creds = append(a.creds, cred)
	a.mu.Unlock()
	return resp, cred, nil
}

// Get runs navigator.credentials.get() on the options JSON and returns the
// AuthenticationResponseJSON. It signs with the newest held credential for the RP ID that the
// options allow (any, when allowCredentials is empty: discoverable login), unless
// tw.Credential names one.
func (a *Authenticator) Get(optionsJSON []byte, tw Tweaks) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	cred := tw.Credential
	if cred == nil {
		held := a.Credentials()
		for i := len(held) - 1; i >= 0 && cred == nil; i-- {
			c := held[i]
			if c.RPID != o.RPID {
				continue
			}
			if len(o.AllowCredentials) == 0 {
				cred = c
			}
			for _, allowed := range o.AllowCredentials {
				if allowed.ID == c.IDString() {
					cred = c
				}
			}
		}
	}
	if cred == nil {
		return nil, errors.New("NotAllowedError: no credential for these options")
	}
	a.mu.Lock()
	if a.Counting {
		cred.SignCount++
	}
	count := cred.SignCount
	if !a.Counting {
		count = 0
	}
	a.mu.Unlock()

	cdj := a.clientData(tw, "webauthn.get", o.Challenge)
	authData := a.authData(tw, o.RPID, 0, count, nil)
	sum := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(append([]byte(nil), authData...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, digest[:])
	if err != nil {
		return nil, err
	}
	response := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cdj),
		"authenticatorData": b64.EncodeToString(authData),
		"signature":         b64.EncodeToString(sig),
	}
	switch {
	case tw.OmitUserHandle:
	case tw.UserHandle != nil:
		response["userHandle"] = b64.EncodeToString(tw.UserHandle)
	default:
		response["userHandle"] = b64.EncodeToString(cred.UserHandle)
	}
	return json.Marshal(map[string]any{
		"id":                      cred.IDString(),
		"rawId":                   cred.IDString(),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response":                response,
	})
}

// clientData is the clientDataJSON of one ceremony (WebAuthn §5.8.1).
func (a *Authenticator) clientData(tw Tweaks, typ, challenge string) []byte {
	if tw.Type != "" {
		typ = tw.Type
	}
	if tw.Challenge != "" {
		challenge = tw.Challenge
	}
	origin := a.Origin
	if tw.Origin != "" {
		origin = tw.Origin
	}
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, challenge, origin, false})
	return b
}

// authData is authenticatorData (WebAuthn §6.1): rpIdHash, flags, counter, then extra.
func (a *Authenticator) authData(tw Tweaks, rpID string, flags byte, count uint32, extra []byte) []byte {
	if tw.RPID != "" {
		rpID = tw.RPID
	}
	flags |= flagUP
	if !tw.NoUV {
		flags |= flagUV
	}
	if a.BackupEligible {
		flags |= flagBE
		if a.BackupState {
			flags |= flagBS
		}
	}
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, extra...)
}

// coseKey is k as a COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1): EC2, ES256, P-256, x, y; with
// offCurve, y is changed so that the point is off the curve.
func coseKey(k *ecdsa.PublicKey, offCurve bool) ([]byte, error) {
	raw, err := k.Bytes() // 0x04 ‖ x ‖ y
	if err != nil {
		return nil, err
	}
	if offCurve {
		raw[64] ^= 1
	}
	mode, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return mode.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}
