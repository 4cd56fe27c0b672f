package coretest

import (
	"context"
	"time"
)

// DenyToken records jti as revoked until exp (core.TokenDenylist).
func (m *Memory) DenyToken(_ context.Context, jti string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.denied[jti] = exp.Unix()
	return nil
}
