package passkeytest

import (
	"testing"

	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
)

func TestMemoryChallengeStore(t *testing.T) {
	TestChallengeStore(t, func(*testing.T) passkey.ChallengeStore { return coretest.NewMemory() })
}

func TestMemoryPasskeyStore(t *testing.T) {
	TestPasskeyStore(t, func(*testing.T) PasskeyStore { return coretest.NewMemory() })
}

func TestMemoryRedemptions(t *testing.T) {
	TestRedemptions(t, func(*testing.T) RedemptionStore { return coretest.NewMemory() })
}
