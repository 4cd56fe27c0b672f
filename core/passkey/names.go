package passkey

// The names the relying party gives: keyed hashes of accounts and emails for counters and
// audit events, and the default names of new passkeys.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// HashKeyLabel is the core.DeriveKey label of RelyingParty.HashKey.
const HashKeyLabel = "latchkey/passkey/hash/v1"

// keyed returns a keyed hash of value under purpose, base64url, 16 bytes: the table's rate
// counters and the audit log name accounts and addresses by it, never in the clear.
func (rp *RelyingParty) keyed(purpose, value string) string {
	m := hmac.New(sha256.New, rp.HashKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// accountKey names user uid in audit events about attacks on it (a throttled ceremony), so
// the attack is visible without the log becoming a list of targets' ids.
func (rp *RelyingParty) accountKey(uid string) string { return "acct:" + rp.keyed("account", uid) }

// atAddress keys a budget of something the caller merely asserts (an email) with the caller's
// address, so a stranger elsewhere cannot spend it.
func atAddress(key, ip string) string { return key + "@" + ip }

// emailKey is the rate-limit key of a normalized email: a keyed hash of it, so the counters in
// the table never hold an address. "email:none" for "".
func (rp *RelyingParty) emailKey(email string) string {
	if email == "" {
		return "email:none"
	}
	return "email:" + rp.keyed("ratelimit", email)
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
