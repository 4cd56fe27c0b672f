package passkey

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/core"
)

// Config is the relying party's configuration.
type Config struct {
	RPID        string   // the relying party id, a registrable domain (or localhost)
	RPName      string   // shown by authenticators; the RP ID when empty
	Origins     []string // the allow-list of origins clientDataJSON may name
	Attestation string   // conveyance preference: none (default), indirect, direct or enterprise
}

// NewWebAuthn returns the go-webauthn relying party Latchkey runs: user verification required,
// discoverable credentials required (every sign-in is discoverable), the configured attestation
// conveyance, and both ceremonies timing out after ChallengeTTL, enforced server side as well.
func NewWebAuthn(c Config) (*webauthn.WebAuthn, error) {
	const op = "passkey.NewWebAuthn"
	pref := protocol.ConveyancePreference(c.Attestation)
	switch pref {
	case "":
		pref = protocol.PreferNoAttestation
	case protocol.PreferNoAttestation, protocol.PreferIndirectAttestation, protocol.PreferDirectAttestation, protocol.PreferEnterpriseAttestation:
	default:
		return nil, core.Wrap(op, fmt.Errorf("attestation %q is not none, indirect, direct or enterprise", c.Attestation))
	}
	name := c.RPName
	if name == "" {
		name = c.RPID
	}
	required := true
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  c.RPID,
		RPDisplayName:         name,
		RPOrigins:             c.Origins,
		AttestationPreference: pref,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			// Resident (discoverable) keys are required: every sign-in is discoverable, so
			// login-begin never hands out credential ids (WebAuthn §14.6.2).
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: &required,
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, core.Wrap(op, err)
	}
	return w, nil
}

// devInfo is go-webauthn's developer detail of err, for the logs only, never for clients. The
// detail of a challenge mismatch quotes the expected and received challenges, and challenges
// never go to logs (docs/security.md, logs and secrets), so only its summary is kept.
func devInfo(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.DevInfo != "" && !strings.Contains(strings.ToLower(pe.Details), "challenge") {
			return pe.Details + ": " + pe.DevInfo
		}
		return pe.Details
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// webauthnUser is a user as go-webauthn sees one.
type webauthnUser struct {
	handle        []byte
	name, display string
	creds         []webauthn.Credential
}

func (u webauthnUser) WebAuthnID() []byte                         { return u.handle }
func (u webauthnUser) WebAuthnName() string                       { return u.name }
func (u webauthnUser) WebAuthnDisplayName() string                { return u.display }
func (u webauthnUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// userHandle is the WebAuthn user handle of user uid: the 16 random bytes the id encodes, so
// that user.id in the creation options reads exactly as the user id.
func userHandle(uid string) ([]byte, error) {
	h, err := base64.RawURLEncoding.DecodeString(uid)
	if err != nil || len(h) == 0 || len(h) > 64 {
		return nil, fmt.Errorf("user id %q is not a base64url user handle", uid)
	}
	return h, nil
}

// webauthnCredential is p as go-webauthn's credential record.
func webauthnCredential(p core.Passkey) (webauthn.Credential, error) {
	raw, err := base64.RawURLEncoding.DecodeString(p.ID)
	if err != nil {
		return webauthn.Credential{}, fmt.Errorf("passkey id %q is not base64url", p.ID)
	}
	flags := protocol.FlagUserPresent
	if p.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, 0, len(p.Transports))
	for _, t := range p.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                raw,
		PublicKey:         p.PublicKey,
		AttestationType:   p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(flags),
		Authenticator:     webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}, nil
}

// maxCredentialID is the longest credential id WebAuthn allows (§5.1, credential id: at most
// 1023 bytes).
const maxCredentialID = 1023

// validCredentialID reports whether id can be a passkey id at all: base64url of 1 to 1023
// bytes. Anything else is not looked up.
func validCredentialID(id string) bool {
	if id == "" || len(id) > (maxCredentialID*4+2)/3 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// validChallengeID reports whether id has the shape of the ids putChallenge hands out (NewID:
// 22 base64url characters). Anything else is not looked up.
func validChallengeID(id string) bool {
	if len(id) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// minRSABits is the smallest RSA modulus accepted for a passkey (NIST SP 800-131A).
const minRSABits = 2048

// checkPublicKey refuses a credential public key that could never verify a signature, so that
// nothing unusable is stored as a factor: it must parse as a COSE key of a supported
// algorithm with a point on its curve (EC2), a 32-byte Ed25519 key (OKP), or an RSA key of at
// least 2048 bits. go-webauthn does not look at the key of a "none" attestation.
func checkPublicKey(cose []byte) error {
	key, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return err
	}
	switch k := key.(type) {
	case webauthncose.EC2PublicKeyData:
		_, err = k.ToECDSA()
		return err
	case webauthncose.OKPPublicKeyData:
		return nil // ParsePublicKey checked the algorithm, the curve and the length
	case webauthncose.RSAPublicKeyData:
		if n := new(big.Int).SetBytes(k.Modulus); n.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits", n.BitLen())
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", key)
}

// knownTransports keeps the transports WebAuthn defines (§5.8.4) and drops anything else a
// client reports, so a stored passkey never carries made-up values back into options.
func knownTransports(ts []protocol.AuthenticatorTransport) []string {
	var out []string
	for _, t := range ts {
		switch t {
		case protocol.USB, protocol.NFC, protocol.BLE, protocol.SmartCard, protocol.Hybrid, protocol.Internal:
			if !slices.Contains(out, string(t)) {
				out = append(out, string(t))
			}
		}
	}
	return out
}
