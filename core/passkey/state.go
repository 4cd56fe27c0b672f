package passkey

import (
	"errors"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/core/internal/field"
)

// The ceremony state codec: what begin leaves for finish in the challenge item, opaque to the
// store. go-webauthn's SessionData travels in its own msgpack form inside a versioned,
// length-prefixed record, so a state written by one version of the code is refused, not
// misread, by another.

// ceremony modes kept in the challenge state.
const (
	modeSignUp byte = iota + 1
	modeAdd
	modeLogin
	modeReauth   // a sign-in ceremony that re-authenticates the session that began it
	modeRecovery // a new passkey for an account, authorized by its recovery ticket
)

// ceremonyState is what begin leaves for finish in the challenge item.
type ceremonyState struct {
	mode        byte
	email       string
	displayName string
	sessionID   string // modeReauth: the session that began the ceremony
	// ticketID and ticketHash name the ticket that finish redeems: the verified sign-up flow
	// (modeSignUp with an email), or the account's pending recovery (modeRecovery).
	ticketID   string
	ticketHash []byte
	session    webauthn.SessionData
}

// stateVersion versions the encoding of ceremonyState.
const stateVersion = 3

func (s ceremonyState) encode() ([]byte, error) {
	sd, err := s.session.MarshalMsg(nil)
	if err != nil {
		return nil, err
	}
	p := []byte{stateVersion, s.mode}
	p = field.AppendString(p, s.email)
	p = field.AppendString(p, s.displayName)
	p = field.AppendString(p, s.sessionID)
	p = field.AppendString(p, s.ticketID)
	p = field.AppendString(p, string(s.ticketHash))
	return field.AppendString(p, string(sd)), nil
}

func decodeState(p []byte) (ceremonyState, error) {
	var s ceremonyState
	if len(p) < 2 || p[0] != stateVersion {
		return s, errors.New("challenge state has an unknown version")
	}
	s.mode = p[1]
	r := field.NewReader(p[2:])
	s.email, s.displayName, s.sessionID = r.String(), r.String(), r.String()
	s.ticketID = r.String()
	if h := r.String(); h != "" {
		s.ticketHash = []byte(h)
	}
	sd := r.String()
	if !r.Done() {
		return s, errors.New("challenge state is malformed")
	}
	if _, err := s.session.UnmarshalMsg([]byte(sd)); err != nil {
		return s, err
	}
	return s, nil
}
