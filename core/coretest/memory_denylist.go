package coretest

import (
	"context"
	"time"
)

// DenyToken records jti as revoked until until (core.TokenDenylist).
func (m *Memory) DenyToken(_ context.Context, jti string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.denied[jti] = until.Unix()
	return nil
}
