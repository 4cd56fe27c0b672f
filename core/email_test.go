package core_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/core"
)

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"  Alice@Example.COM ":   "alice@example.com",
		"jose\u0301@example.com": "jos\u00e9@example.com", // NFD e + combining acute is the NFC é
		"JOS\u00c9@example.com":  "jos\u00e9@example.com",
	} {
		got, err := core.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{
		"", "alice", "@example.com", "alice@", "alice@localhost", "a b@example.com", "alice@@example.com",
		"alice@example.com.", "al\x00ice@example.com", "al\u200bice@example.com", // zero-width space
		"alice@exa\u202emple.com", // right-to-left override
		"al\u00adice@example.com", // soft hyphen
		"\xffalice@example.com", strings.Repeat("a", 250) + "@example.com",
	} {
		if _, err := core.NormalizeEmail(bad); !core.Is(err, core.KindInvalid) {
			t.Errorf("NormalizeEmail(%q) accepted: %v", bad, err)
		}
	}
}

func TestCleanLabel(t *testing.T) {
	if got, err := core.CleanLabel("op", "name", "  Cafe\u0301 laptop ", 64); err != nil || got != "Caf\u00e9 laptop" {
		t.Fatalf("CleanLabel = %q, %v", got, err)
	}
	for _, bad := range []string{"a\tb", "evil\u202egpj.exe", "zero\u200dwidth", "\xff", strings.Repeat("x", 65)} {
		if _, err := core.CleanLabel("op", "name", bad, 64); !core.Is(err, core.KindInvalid) {
			t.Errorf("CleanLabel(%q) accepted", bad)
		}
	}
}
