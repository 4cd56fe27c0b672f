package apikeytest

import (
	"testing"

	"github.com/latchkey/latchkey/core/coretest"
)

func TestMemoryStore(t *testing.T) {
	TestStore(t, func(*testing.T) Store { return coretest.NewMemory() })
}
