package core_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

func codec(t *testing.T) *core.RefreshCodec {
	c, err := core.NewRefreshCodec(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRefreshRoundTrip(t *testing.T) {
	c := codec(t)
	in := core.RefreshClaims{SessionID: "s", UserID: "u", Generation: 42, AuthTime: t0, AMR: []string{"hwk", "user"}, Scope: "a b"}
	tok := c.Mint(in)
	out, err := c.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if out.SessionID != "s" || out.UserID != "u" || out.Generation != 42 || !out.AuthTime.Equal(t0) || strings.Join(out.AMR, ",") != "hwk,user" || out.Scope != "a b" {
		t.Fatalf("%+v", out)
	}
	if c.Mint(in) != tok {
		t.Fatal("minting is not deterministic: a retry within grace could not get the same successor")
	}
	in.Generation++
	if c.Mint(in) == tok {
		t.Fatal("the next generation has the same token")
	}
}

func TestRefreshRefusesTampering(t *testing.T) {
	c := codec(t)
	tok := c.Mint(core.RefreshClaims{SessionID: "s", UserID: "u", Generation: 1, AuthTime: t0})
	other, _ := core.NewRefreshCodec(bytes.Repeat([]byte{8}, 32))
	bad := []string{
		"", "lkr1.", "lkr1..", tok[:len(tok)-1], tok + "A", strings.Replace(tok, "lkr1.", "lkr2.", 1),
		other.Mint(core.RefreshClaims{SessionID: "s", UserID: "u", Generation: 1, AuthTime: t0}),
		strings.Repeat("a", 5000),
	}
	// Flip each payload character in turn: the MAC must catch every one.
	dot := strings.LastIndexByte(tok, '.')
	for i := len("lkr1."); i < dot; i++ {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		bad = append(bad, string(b))
	}
	for _, b := range bad {
		if _, err := c.Parse(b); core.KindOf(err) != core.KindUnauthenticated {
			t.Errorf("Parse(%.40q) = %v", b, err)
		}
	}
}

func TestRefreshTokenStrength(t *testing.T) {
	tok := codec(t).Mint(core.RefreshClaims{SessionID: core.NewID(), UserID: core.NewID(), Generation: 1, AuthTime: time.Now()})
	mac := tok[strings.LastIndexByte(tok, '.')+1:]
	if len(mac) < 43 { // 256 bits in base64url
		t.Fatalf("MAC part %q holds fewer than 256 bits", mac)
	}
	if _, err := core.NewRefreshCodec(make([]byte, 31)); err == nil {
		t.Fatal("a 248-bit key was accepted")
	}
}
