package coretest

import (
	"testing"

	"github.com/latchkey/latchkey/core"
)

func TestMemoryChallengeStore(t *testing.T) {
	TestChallengeStore(t, func(*testing.T) core.ChallengeStore { return NewMemory() })
}

func TestMemoryTokenDenylist(t *testing.T) {
	TestTokenDenylist(t, func(*testing.T) core.TokenDenylist { return NewMemory() })
}

func TestMemoryCounters(t *testing.T) {
	TestCounters(t, func(*testing.T) core.Counters { return NewMemory() })
}

func TestMemorySessionStore(t *testing.T) {
	TestSessionStore(t, func(*testing.T) core.SessionStore { return NewMemory() })
}

func TestMemoryUserStore(t *testing.T) {
	TestUserStore(t, func(*testing.T) core.UserStore { return NewMemory() })
}

func TestMemoryAccessStates(t *testing.T) {
	TestAccessStates(t, func(*testing.T) AccessStore { return NewMemory() })
}

func TestMemoryPasskeyStore(t *testing.T) {
	TestPasskeyStore(t, func(*testing.T) PasskeyStore { return NewMemory() })
}
