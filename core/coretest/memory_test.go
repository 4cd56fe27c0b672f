package coretest

import (
	"testing"

	"github.com/latchkey/latchkey/core"
)

func TestMemoryTokenDenylist(t *testing.T) {
	TestTokenDenylist(t, func(*testing.T) DenylistStore { return NewMemory() })
}

func TestMemoryCounters(t *testing.T) {
	TestCounters(t, func(*testing.T) core.Counters { return NewMemory() })
}

func TestMemorySessionStore(t *testing.T) {
	TestSessionStore(t, func(*testing.T) core.SessionStore { return NewMemory() })
}

func TestMemoryUserStore(t *testing.T) {
	TestUserStore(t, func(*testing.T) UserStore { return NewMemory() })
}

func TestMemoryAccessStates(t *testing.T) {
	TestAccessStates(t, func(*testing.T) AccessStore { return NewMemory() })
}
