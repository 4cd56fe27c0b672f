package recoverytest

import (
	"testing"

	"github.com/latchkey/latchkey/core/coretest"
)

func TestMemoryFlowStore(t *testing.T) {
	TestFlowStore(t, func(*testing.T) FlowStore { return coretest.NewMemory() })
}

func TestMemoryRecoveryStore(t *testing.T) {
	TestRecoveryStore(t, func(*testing.T) RecoveryStore { return coretest.NewMemory() })
}

func TestMemoryCodeStore(t *testing.T) {
	TestCodeStore(t, func(*testing.T) CodeStore { return coretest.NewMemory() })
}

func TestMemoryTicketStore(t *testing.T) {
	TestTicketStore(t, func(*testing.T) TicketStore { return coretest.NewMemory() })
}
