package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
)

// MachineEntry is one machine client's secrets in the machine-client secret: the current one
// and, during a rotation, the next; both are accepted.
type MachineEntry struct {
	Current string `json:"current"`
	Next    string `json:"next,omitempty"`
}

// MachineLayout is the whole machine-client secret of a deployment (LATCHKEY_MACHINE_SECRET_ID):
// a JSON object from client id to its MachineEntry, {"ci": {"current": "…", "next": "…"}}.
// The stacks create it as {}; `make machine-secret` (functions/internal/machinesecret) and, on
// the local stack, the bootstrap fill it.
type MachineLayout map[string]MachineEntry

// minSecretBytes is the least entropy of a machine client's secret: 256 bits, which makes its
// unsalted SHA-256 safe to compare and to keep (core.SecretHash).
const minSecretBytes = 32

// NewMachineSecret returns a fresh secret: 32 random bytes, base64url without padding (43
// characters), safe in a form, a Basic credential and a shell.
func NewMachineSecret() string { return core.NewSecret() }

// validSecret accepts what NewMachineSecret makes: base64url without padding of at least 32
// bytes. A secret typed by hand, or any shorter one, is refused: its entropy is unknown.
func validSecret(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) >= minSecretBytes
}

// ParseMachineLayout decodes and checks the machine-client secret: an object of entries, each
// with a valid current secret and, if any, a valid next one. Errors name the client, never a
// secret.
func ParseMachineLayout(raw []byte) (MachineLayout, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var l MachineLayout
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf(`the machine-client secret is not a JSON object {"<client>": {"current": "…", "next": "…"}}: %w`, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("the machine-client secret has data after its JSON object")
	}
	if l == nil {
		l = MachineLayout{}
	}
	for _, id := range l.ids() {
		e := l[id]
		if !validSecret(e.Current) {
			return nil, fmt.Errorf("the machine-client secret: client %q has no valid current secret (base64url of at least 32 random bytes)", id)
		}
		if e.Next != "" && !validSecret(e.Next) {
			return nil, fmt.Errorf("the machine-client secret: client %q has an invalid next secret (base64url of at least 32 random bytes)", id)
		}
	}
	return l, nil
}

// Marshal is the layout as stored, clients in order.
func (l MachineLayout) Marshal() []byte {
	b, _ := json.Marshal(l) // maps of strings always encode, with sorted keys
	return b
}

func (l MachineLayout) ids() []string {
	ids := make([]string, 0, len(l))
	for id := range l {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Hashes are the SHA-256 hashes of every accepted secret, by client.
func (l MachineLayout) Hashes() core.MachineSecrets {
	out := make(core.MachineSecrets, len(l))
	for id, e := range l {
		out[id] = []core.SecretHash{core.HashSecret(e.Current)}
		if e.Next != "" {
			out[id] = append(out[id], core.HashSecret(e.Next))
		}
	}
	return out
}

// The steps of a client's life in the layout, each returning the secret to hand the client,
// if any. Create starts a client with a current secret (refused if it has one); Rotate adds a
// next secret beside the current one (replacing an earlier next); Promote makes the next
// secret the current one, so the old one stops; Remove drops the client.
func (l MachineLayout) Create(id string) (string, error) {
	if _, ok := l[id]; ok {
		return "", fmt.Errorf("client %q already has a secret; rotate it instead", id)
	}
	s := NewMachineSecret()
	l[id] = MachineEntry{Current: s}
	return s, nil
}

// Rotate adds a next secret to client id: see Create.
func (l MachineLayout) Rotate(id string) (string, error) {
	e, ok := l[id]
	if !ok {
		return "", fmt.Errorf("client %q has no secret; create one first", id)
	}
	e.Next = NewMachineSecret()
	l[id] = e
	return e.Next, nil
}

// Promote makes client id's next secret its current one: see Create.
func (l MachineLayout) Promote(id string) error {
	e, ok := l[id]
	if !ok || e.Next == "" {
		return fmt.Errorf("client %q has no next secret to promote; rotate first", id)
	}
	l[id] = MachineEntry{Current: e.Next}
	return nil
}

// Machine loads the machine-client secret from Secrets Manager (core.MachineSecretSource).
type Machine struct {
	API API
	ID  string // the secret's ARN or name (LATCHKEY_MACHINE_SECRET_ID)
}

// MachineSecrets reads the secret's current value and returns the hashes of every client's
// accepted secrets. KindUnavailable if Secrets Manager cannot be reached; KindInternal (the
// reason logged, never a secret) if the value is not a valid layout.
func (m Machine) MachineSecrets(ctx context.Context) (core.MachineSecrets, error) {
	const op = "secrets.Machine.MachineSecrets"
	out, err := m.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &m.ID})
	if err != nil {
		return nil, core.E(op, core.KindUnavailable, "secret store unavailable", err)
	}
	raw := out.SecretBinary
	if out.SecretString != nil {
		raw = []byte(*out.SecretString)
	}
	l, err := ParseMachineLayout(raw)
	if err != nil {
		return nil, core.Wrap(op, err)
	}
	return l.Hashes(), nil
}
