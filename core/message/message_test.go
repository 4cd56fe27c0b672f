package message

import (
	"strings"
	"testing"
	"time"
)

func TestEveryKindRenders(t *testing.T) {
	d := Data{App: `Acme <b>"Shop"</b>`, Code: "042917", ExpiresIn: 10 * time.Minute, Method: "email",
		AvailableAt: time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC), CancelCode: "uid.secret"}
	for _, kind := range []string{SignUpCode, SignUpTaken, RecoveryCode, RecoveryStarted, RecoveryCompleted, RecoveryCancelled} {
		m, err := Render(kind, "a@example.com", d)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if m.Kind != kind || m.To != "a@example.com" || m.Subject == "" || m.Text == "" || m.HTML == "" {
			t.Fatalf("%s: %+v", kind, m)
		}
		if !strings.Contains(m.Text, `Acme <b>"Shop"</b>`) || strings.Contains(m.HTML, "<b>") || !strings.Contains(m.HTML, "Acme &lt;b&gt;") {
			t.Errorf("%s: the app's name is not shown as text in both bodies:\n%s\n%s", kind, m.Text, m.HTML)
		}
		if strings.Contains(m.Text, "http") || strings.Contains(m.HTML, "href") {
			t.Errorf("%s: a message carries a link", kind)
		}
		hasCode := strings.Contains(m.Text, "042917") && strings.Contains(m.HTML, "042917")
		if want := kind == SignUpCode || kind == RecoveryCode; hasCode != want {
			t.Errorf("%s: carries the code %v, want %v", kind, hasCode, want)
		}
	}
	m, _ := Render(RecoveryStarted, "a@example.com", d)
	if !strings.Contains(m.Text, "uid.secret") || !strings.Contains(m.Text, "Wednesday 2 December 2026, 09:30 UTC") || !strings.Contains(m.HTML, "uid.secret") {
		t.Errorf("the recovery notice lacks the cancel code or the time: %s", m.Text)
	}
	if _, err := Render("nonsense", "a@example.com", d); err == nil {
		t.Error("an unknown kind rendered")
	}
}
