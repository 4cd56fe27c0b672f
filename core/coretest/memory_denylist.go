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

// TokenDenied reports whether jti is denied at now (core.TokenDenylist).
func (m *Memory) TokenDenied(_ context.Context, jti string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.denied[jti]
	return ok && live(exp, now), nil
}
