package oidc

import (
	"strings"
	"testing"
)

// TestShapes pins the bounds of the three shapes checked apart from their patterns.
func TestShapes(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   func(string) bool
		in   string
		want bool
	}{
		{"client id", isClientID, "a", true},
		{"client id of 64", isClientID, strings.Repeat("a", 64), true},
		{"client id of 65", isClientID, strings.Repeat("a", 65), false},
		{"client id empty", isClientID, "", false},
		{"client id starting with a dot", isClientID, ".a", false},
		{"client id with a slash", isClientID, "a/b", false},
		{"scope", isScopeToken, "orders:read", true},
		{"scope of 64", isScopeToken, strings.Repeat("s", 64), true},
		{"scope of 65", isScopeToken, strings.Repeat("s", 65), false},
		{"scope empty", isScopeToken, "", false},
		{"scope with a quote", isScopeToken, `a"b`, false},
		{"scope with a backslash", isScopeToken, `a\b`, false},
		{"verifier of 43", isCodeVerifier, strings.Repeat("v", 43), true},
		{"verifier of 128", isCodeVerifier, strings.Repeat("v", 128), true},
		{"verifier of 42", isCodeVerifier, strings.Repeat("v", 42), false},
		{"verifier of 129", isCodeVerifier, strings.Repeat("v", 129), false},
		{"verifier with a plus", isCodeVerifier, strings.Repeat("v", 42) + "+", false},
	} {
		if got := c.ok(c.in); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
