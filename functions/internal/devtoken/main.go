// Command devtoken prints tokens for a fresh test user of the running local stack, as one JSON
// line: {"user_id","session_id","access_token","refresh_token","expires_in"}. It is for local
// development only and refuses to run unless every AWS endpoint is on this machine, so it can
// never mint a session in a real account. `make dev-token` runs it with local/.state/env. It
// lives under functions/internal because it reads its configuration with boot, as the
// functions do, and opens the session with the same core.Sessions.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dev-token:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SECRETS_MANAGER"} {
		if err := loopback(getenv(name)); err != nil {
			return fmt.Errorf("%s: %w; dev-token only works against the local stack (make dev)", name, err)
		}
	}
	cfg, err := boot.Load(getenv, boot.Need{Secret: true})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	awsCfg, err := boot.AWS(ctx, getenv)
	if err != nil {
		return err
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.Table)
	key, err := secrets.HMACKey(ctx, secretsmanager.NewFromConfig(awsCfg), cfg.SecretID)
	if err != nil {
		return err
	}
	codec, err := core.NewRefreshCodec(key)
	if err != nil {
		return err
	}
	signer := kmssign.New(kms.NewFromConfig(awsCfg), cfg.SigningKeys)
	// The same Sessions the sessions function builds, complete, though only Start is used.
	sessions := &core.Sessions{
		Store:          store,
		Denylist:       store,
		Verifier:       &core.Verifier{Keys: signer, States: store, Issuer: cfg.Issuer, Audience: cfg.Audience, FirstParty: cfg.ClientID, Leeway: cfg.Leeway, Now: time.Now},
		Minter:         &core.Minter{Signer: signer, Issuer: cfg.Issuer, Audience: cfg.Audience, ClientID: cfg.ClientID, TTL: cfg.AccessTTL},
		Codec:          codec,
		Limiter:        &core.RateLimiter{Counters: store},
		Audit:          slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Now:            time.Now,
		AbsoluteTTL:    cfg.SessionTTL,
		IdleTTL:        cfg.SessionIdle,
		Grace:          cfg.Grace,
		TokenByIP:      core.Rule(cfg.Limits.TokenByIP),
		TokenBySession: core.Rule(cfg.Limits.TokenBySession),
	}
	u := core.User{ID: core.NewID(), DisplayName: "dev-token user", CreatedAt: time.Now()}
	if err := store.CreateUser(ctx, u); err != nil {
		return err
	}
	tr, err := sessions.Start(ctx, core.StartRequest{UserID: u.ID, AMR: []string{"dev"}, Client: core.Client{IP: "127.0.0.1", UserAgent: "make dev-token"}})
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(map[string]any{
		"user_id":       u.ID,
		"session_id":    tr.SessionID,
		"access_token":  tr.AccessToken,
		"refresh_token": tr.RefreshToken,
		"expires_in":    int(tr.ExpiresIn / time.Second),
	})
}

// loopback accepts only http(s) URLs whose host is a loopback address or localhost.
func loopback(raw string) error {
	if raw == "" {
		return errors.New("not set")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Hostname() == "localhost" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not on this machine", u.Hostname())
}
