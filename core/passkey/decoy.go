package passkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
)

// DecoyKeyLabel is the core.DeriveKey label of RelyingParty.DecoyKey.
const DecoyKeyLabel = "latchkey/passkeys/decoy/v1"

// decoyIDLengths are credential id lengths seen from real authenticators (16 and 20 bytes from
// platform passkey providers, 32 from Windows Hello and many others, 64 from security keys),
// weighted roughly by how common they are.
var decoyIDLengths = []int{16, 20, 20, 32, 32, 32, 32, 64}

// decoyTransports are transport lists real passkeys report, weighted the same way.
var decoyTransports = [][]protocol.AuthenticatorTransport{
	{protocol.Hybrid, protocol.Internal},
	{protocol.Hybrid, protocol.Internal},
	{protocol.Internal},
	{protocol.Internal, protocol.Hybrid},
	{protocol.USB},
	{protocol.NFC, protocol.USB},
}

// decoy returns the account an email no one holds appears to have at login-begin: a user id
// and allowCredentials that depend only on the email and DecoyKey. Asking again gives the
// same answer, as it would for a real account. Most accounts have one passkey, some two or
// three, and so do decoys.
func (rp *RelyingParty) decoy(email string) (string, []protocol.CredentialDescriptor) {
	stream := func(label string, n int) []byte {
		var out []byte
		for i := uint32(0); len(out) < n; i++ {
			m := hmac.New(sha256.New, rp.DecoyKey)
			m.Write([]byte(label))
			m.Write([]byte{0})
			m.Write([]byte(email))
			m.Write(binary.BigEndian.AppendUint32(nil, i))
			out = m.Sum(out)
		}
		return out[:n]
	}
	uid := base64.RawURLEncoding.EncodeToString(stream("uid", 16))
	shape := stream("shape", 8)
	count := 1
	switch {
	case shape[0] >= 240:
		count = 3
	case shape[0] >= 180:
		count = 2
	}
	out := make([]protocol.CredentialDescriptor, count)
	for i := range out {
		n := decoyIDLengths[int(shape[1+i])%len(decoyIDLengths)]
		out[i] = protocol.CredentialDescriptor{
			Type:         protocol.PublicKeyCredentialType,
			CredentialID: stream(fmt.Sprintf("credential/%d", i), n),
			Transport:    decoyTransports[int(shape[4+i])%len(decoyTransports)],
		}
	}
	return uid, out
}

// emailKey is the rate-limit key of a normalized email: a MAC of it, so the counters in the
// table never hold an address. "" for "".
func (rp *RelyingParty) emailKey(email string) string {
	if email == "" {
		return ""
	}
	m := hmac.New(sha256.New, rp.DecoyKey)
	m.Write([]byte("ratelimit\x00"))
	m.Write([]byte(email))
	return "email:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// knownAuthenticators names the passkey providers whose AAGUIDs are widely published, so that a
// new passkey gets a name a person recognizes.
var knownAuthenticators = map[string]string{
	"fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
	"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
	"adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
	"08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
	"9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
	"6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
	"bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
	"d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
}

// DefaultPasskeyName is the name a passkey gets when the client gives none: its provider's
// name when the AAGUID is a known one, else "Passkey".
func DefaultPasskeyName(aaguid []byte) string {
	if name, ok := knownAuthenticators[AAGUIDString(aaguid)]; ok {
		return name
	}
	return "Passkey"
}

// AAGUIDString is aaguid in the 8-4-4-4-12 UUID form; the nil UUID when it is not 16 bytes.
func AAGUIDString(a []byte) string {
	if len(a) != 16 {
		a = make([]byte, 16)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", a[0:4], a[4:6], a[6:8], a[8:10], a[10:16])
}
