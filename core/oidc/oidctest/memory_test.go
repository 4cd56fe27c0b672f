package oidctest

import (
	"testing"

	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/oidc"
)

func TestMemoryStore(t *testing.T) {
	TestStore(t, func(*testing.T) oidc.Store { return coretest.NewMemory() })
}
