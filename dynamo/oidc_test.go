package dynamo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/core/oidc/oidctest"
)

func TestOIDCStore(t *testing.T) {
	oidctest.TestStore(t, func(t *testing.T) oidc.Store { return testStore(t) })
}

// The request, code and provider-session items hold what docs/architecture.md (single-table
// items) lists, under the keys it names: the code and the cookie only as the SHA-256 in the
// key, the binding as Binary, times as epoch seconds, maxAge present exactly with max_age.
func TestOIDCItemLayout(t *testing.T) {
	client, table := testTable(t)
	store := New(client, table)
	ctx := context.Background()

	r := oidctest.NewRequest(t, now)
	if err := store.PutRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	request := getRaw(t, client, table, oauthRequestKey(r.ID))
	wantAttrs(t, "request", request, map[string]types.AttributeValue{
		attrPK: str("OAUTHREQ#" + r.ID), attrSK: str("OAUTHREQ"), "clientId": str(r.ClientID), "redirectUri": str(r.RedirectURI),
		"scope": str(r.Scope), "state": str(r.State), "nonce": str(r.Nonce), "codeChallenge": str(r.CodeChallenge),
		"prompt": str(r.Prompt), "maxAge": number(300), "loginHint": str(r.LoginHint), "binding": bin(r.Binding[:]),
		"createdAt": number(epoch(r.CreatedAt)), attrExpiresAt: number(epoch(r.ExpiresAt)),
	})
	wantOnly(t, "request", request, 14)
	for _, tc := range []struct {
		hasMaxAge bool
		want      types.AttributeValue // nil: absent
	}{{true, number(0)}, {false, nil}} {
		r := oidctest.NewRequest(t, now)
		r.MaxAge, r.HasMaxAge, r.State, r.Nonce, r.Prompt, r.LoginHint = 0, tc.hasMaxAge, "", "", "", ""
		if err := store.PutRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		item := getRaw(t, client, table, oauthRequestKey(r.ID))
		if got, ok := item["maxAge"]; tc.want == nil && ok {
			t.Errorf("a request without max_age stores maxAge %#v", got)
		} else if tc.want != nil {
			wantAttrs(t, "request with max_age=0", item, map[string]types.AttributeValue{"maxAge": tc.want})
		}
		for _, attr := range []string{"state", "nonce", "prompt", "loginHint"} {
			if _, ok := item[attr]; ok {
				t.Errorf("an empty %s is stored", attr)
			}
		}
	}

	c := oidctest.NewCode(t, randomKey(t), now)
	if err := store.PutCode(ctx, c); err != nil {
		t.Fatal(err)
	}
	amr := &types.AttributeValueMemberL{Value: []types.AttributeValue{str("hwk"), str("user")}}
	code := getRaw(t, client, table, oauthCodeKey(c.Hash))
	wantAttrs(t, "code", code, map[string]types.AttributeValue{
		attrPK: str("OAUTHCODE#" + c.Hash.String()), attrSK: str("OAUTHCODE"), "clientId": str(c.ClientID),
		"redirectUri": str(c.RedirectURI), "scope": str(c.Scope), "nonce": str(c.Nonce), "codeChallenge": str(c.CodeChallenge),
		"userId": str(c.UserID), "authTime": number(epoch(c.AuthTime)), "sessionId": str(c.SessionID), "email": str(c.Email),
		"emailVerified": &types.AttributeValueMemberBOOL{Value: true}, "name": str(c.Name), attrExpiresAt: number(epoch(c.ExpiresAt)),
	})
	wantList(t, "code", code, "amr", amr)
	wantOnly(t, "code", code, 15)
	if _, ok := code["usedAt"]; ok {
		t.Error("a new code has usedAt")
	}
	if _, err := store.TakeCode(ctx, c.Hash, now.Add(1500*time.Millisecond), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, "taken code", getRaw(t, client, table, oauthCodeKey(c.Hash)), map[string]types.AttributeValue{
		"usedAt": number(epoch(now) + 1), attrExpiresAt: number(epoch(now.Add(time.Hour))),
	})

	ps := oidctest.NewProviderSession(t, randomKey(t), now)
	if err := store.PutProviderSession(ctx, ps); err != nil {
		t.Fatal(err)
	}
	session := getRaw(t, client, table, providerSessionKey(ps.Hash))
	wantAttrs(t, "provider session", session, map[string]types.AttributeValue{
		attrPK: str("OPSESSION#" + ps.Hash.String()), attrSK: str("OPSESSION"), "userId": str(ps.UserID),
		"authTime": number(epoch(ps.AuthTime)), "createdAt": number(epoch(ps.CreatedAt)), attrExpiresAt: number(epoch(ps.ExpiresAt)),
	})
	wantList(t, "provider session", session, "amr", amr)
	wantOnly(t, "provider session", session, 7)

	// An empty AMR is not stored at all (the encoder would store an empty list).
	bare := oidctest.NewProviderSession(t, randomKey(t), now)
	bare.AMR = []string{}
	if err := store.PutProviderSession(ctx, bare); err != nil {
		t.Fatal(err)
	}
	if got, ok := getRaw(t, client, table, providerSessionKey(bare.Hash))["amr"]; ok {
		t.Errorf("an empty AMR is stored as %#v", got)
	}

	// The hashes are keys only: no attribute holds the code's or the cookie's hash as bytes.
	for what, item := range map[string]map[string]types.AttributeValue{"code": code, "provider session": session} {
		for name, av := range item {
			if _, ok := av.(*types.AttributeValueMemberB); ok {
				t.Errorf("the %s item holds Binary %s", what, name)
			}
		}
	}
}

// wantOnly fails the test unless item has exactly n attributes: the layout test names them all.
func wantOnly(t *testing.T, what string, item map[string]types.AttributeValue, n int) {
	t.Helper()
	if len(item) != n {
		names := make([]string, 0, len(item))
		for name := range item {
			names = append(names, name)
		}
		t.Errorf("%s: %d attributes %v, want %d", what, len(item), names, n)
	}
}

// wantList fails the test unless item's attr is a list of the strings of want, in order.
func wantList(t *testing.T, what string, item map[string]types.AttributeValue, attr string, want *types.AttributeValueMemberL) {
	t.Helper()
	got, ok := item[attr].(*types.AttributeValueMemberL)
	if !ok || len(got.Value) != len(want.Value) {
		t.Fatalf("%s: %s = %#v, want a list of %d", what, attr, item[attr], len(want.Value))
	}
	for i := range want.Value {
		g, _ := got.Value[i].(*types.AttributeValueMemberS)
		w := want.Value[i].(*types.AttributeValueMemberS)
		if g == nil || g.Value != w.Value {
			t.Errorf("%s: %s[%d] = %#v, want %q", what, attr, i, got.Value[i], w.Value)
		}
	}
}

// Each method of oidc.Store is one round trip, on success and on a failed condition alike: the
// puts a PutItem, the reads a strongly consistent GetItem, the request's take a DeleteItem, the
// code's take an UpdateItem (a used code's too: the failed condition returns the item), the
// session's delete a DeleteItem.
func TestOIDCRoundTrips(t *testing.T) {
	client, table := testTable(t)
	api := &countingAPI{API: client}
	store := New(api, table)
	ctx := context.Background()
	r := oidctest.NewRequest(t, now)
	c := oidctest.NewCode(t, randomKey(t), now)
	ps := oidctest.NewProviderSession(t, randomKey(t), now)
	want := func(kind core.Kind, err error) error {
		if core.Is(err, kind) {
			return nil
		}
		return errors.Join(errors.New("want "+kind.String()), err)
	}

	oneCallEach(t, api, []roundTrip{
		{"PutRequest", "PutItem", func() error { return store.PutRequest(ctx, r) }},
		{"PutRequest taken", "PutItem", func() error { return want(core.KindConflict, store.PutRequest(ctx, r)) }},
		{"GetRequest", "GetItem", func() error { _, err := store.GetRequest(ctx, r.ID, now); return err }},
		{"GetRequest expired", "GetItem", func() error {
			_, err := store.GetRequest(ctx, r.ID, r.ExpiresAt)
			return want(core.KindNotFound, err)
		}},
		{"TakeRequest of another browser", "DeleteItem", func() error {
			_, err := store.TakeRequest(ctx, r.ID, oidctest.Hash(t), now)
			return want(core.KindNotFound, err)
		}},
		{"TakeRequest", "DeleteItem", func() error { _, err := store.TakeRequest(ctx, r.ID, r.Binding, now); return err }},
		{"TakeRequest again", "DeleteItem", func() error {
			_, err := store.TakeRequest(ctx, r.ID, r.Binding, now)
			return want(core.KindNotFound, err)
		}},
		{"PutCode", "PutItem", func() error { return store.PutCode(ctx, c) }},
		{"PutCode taken", "PutItem", func() error { return want(core.KindConflict, store.PutCode(ctx, c)) }},
		{"TakeCode expired", "UpdateItem", func() error {
			_, err := store.TakeCode(ctx, c.Hash, c.ExpiresAt, c.ExpiresAt.Add(time.Hour))
			return want(core.KindNotFound, err)
		}},
		{"TakeCode", "UpdateItem", func() error { _, err := store.TakeCode(ctx, c.Hash, now, now.Add(time.Hour)); return err }},
		{"TakeCode used", "UpdateItem", func() error {
			got, err := store.TakeCode(ctx, c.Hash, now, now.Add(time.Hour))
			if got.UsedAt.IsZero() {
				return errors.New("the used code is not returned")
			}
			return want(core.KindConflict, err)
		}},
		{"TakeCode unknown", "UpdateItem", func() error {
			_, err := store.TakeCode(ctx, oidctest.Hash(t), now, now.Add(time.Hour))
			return want(core.KindNotFound, err)
		}},
		{"PutProviderSession", "PutItem", func() error { return store.PutProviderSession(ctx, ps) }},
		{"PutProviderSession taken", "PutItem", func() error { return want(core.KindConflict, store.PutProviderSession(ctx, ps)) }},
		{"GetProviderSession", "GetItem", func() error { _, err := store.GetProviderSession(ctx, ps.Hash, now); return err }},
		{"DeleteProviderSession", "DeleteItem", func() error { return store.DeleteProviderSession(ctx, ps.Hash) }},
		{"DeleteProviderSession absent", "DeleteItem", func() error { return store.DeleteProviderSession(ctx, ps.Hash) }},
		{"GetProviderSession absent", "GetItem", func() error {
			_, err := store.GetProviderSession(ctx, ps.Hash, now)
			return want(core.KindNotFound, err)
		}},
	})
}
