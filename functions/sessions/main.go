// Command sessions is the Lambda behind the token endpoint (refresh, machine clients, and the
// OpenID provider's code exchange, which signs its ID tokens), logout, revocation,
// introspection, the caller's own session list and the caller's API keys.
package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

func main() {
	boot.Main("sessions", boot.Need{Secret: true, IDToken: true}, func(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (any, error) {
		h, err := newHandler(ctx, cfg, awsCfg, log)
		if err != nil {
			return nil, err
		}
		return apigw.Serve(log, boot.Deadline, h.Handle), nil
	})
}

// newHandler builds what this function uses: the store, the KMS signer (whose public keys it
// preloads, so a warm function never calls kms:GetPublicKey), the refresh-token HMAC key from
// Secrets Manager, the verifier, the Sessions use case, the API keys' owners' side and the
// machine clients' grant.
func newHandler(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (*handler, error) {
	db := dynamodb.NewFromConfig(awsCfg)
	defer boot.OpenDynamoDBBeside(ctx, log, db)() // the first request pays no handshake
	store := dynamo.New(db, cfg.Table)
	kmsAPI := kms.NewFromConfig(awsCfg)
	signer := kmssign.New(kmsAPI, cfg.SigningKeys)
	idSigner := kmssign.NewIDSigner(kmsAPI, cfg.IDTokenKeys)
	preloaded := boot.PreloadBeside(ctx, log, "public keys", func(ctx context.Context) error {
		if _, err := signer.PublicKeys(ctx); err != nil {
			return err
		}
		_, err := idSigner.IDKeys(ctx)
		return err
	})
	defer preloaded()

	sctx, cancel := context.WithTimeout(ctx, boot.SecretTimeout)
	defer cancel()
	key, err := secrets.HMACKey(sctx, secretsmanager.NewFromConfig(awsCfg), cfg.SecretID)
	if err != nil {
		return nil, err
	}
	codec, err := core.NewRefreshCodec(key)
	if err != nil {
		return nil, err
	}
	clients := machineClients(cfg)
	verifier := &core.Verifier{Keys: signer, States: store, Issuer: cfg.Issuer, Audience: cfg.Audience, FirstParty: cfg.ClientID, Leeway: cfg.Leeway, Now: time.Now, Machines: clients}
	minter := &core.Minter{Signer: signer, Issuer: cfg.Issuer, Audience: cfg.Audience, ClientID: cfg.ClientID, TTL: cfg.AccessTTL}
	limiter := &core.RateLimiter{Counters: store}
	sessions := &core.Sessions{
		Store:          store,
		Denylist:       store,
		Verifier:       verifier,
		Minter:         minter,
		Codec:          codec,
		Limiter:        limiter,
		Audit:          log,
		Now:            time.Now,
		AbsoluteTTL:    cfg.SessionTTL,
		IdleTTL:        cfg.SessionIdle,
		Grace:          cfg.Grace,
		TokenByIP:      core.Rule(cfg.Limits.TokenByIP),
		TokenBySession: core.Rule(cfg.Limits.TokenBySession),
	}
	keys := &apikey.Keys{
		Store: store, Audit: log, Now: time.Now, Env: cfg.APIKeyEnv, Max: cfg.APIKeysMax, Scopes: cfg.UserScopes,
		ReauthMaxAge: cfg.ReauthAge,
	}
	// The machine clients' secrets are read on the first client_credentials request, not at cold
	// start: a function serving only refreshes never waits for them.
	machines := &core.Machines{
		Clients:       clients,
		Secrets:       secrets.Machine{API: secretsmanager.NewFromConfig(awsCfg), ID: cfg.MachineSecretID},
		MaxAge:        cfg.MachineSecretMaxAge,
		Minter:        minter,
		Limiter:       limiter,
		Audit:         log,
		Now:           time.Now,
		TokenByIP:     core.Rule(cfg.Limits.TokenByIP),
		TokenByClient: core.Rule(cfg.Limits.TokenByClient),
	}
	exchanger := &oidc.Exchanger{
		Store:     store,
		Sessions:  sessions,
		IDTokens:  &oidc.IDMinter{Signer: idSigner, Issuer: cfg.Issuer, TTL: cfg.AccessTTL},
		Limiter:   limiter,
		Audit:     log,
		Now:       time.Now,
		TokenByIP: core.Rule(cfg.Limits.TokenByIP),
	}
	return &handler{
		sessions: sessions, keys: keys, machines: machines, verifier: verifier, introspectors: cfg.IntrospectionClients,
		clientID: cfg.ClientID, relyingParties: cfg.OIDCClients, exchanger: exchanger, log: log,
	}, nil
}

// machineClients is the configuration's machine clients by id.
func machineClients(cfg boot.Config) core.MachineClients {
	out := make(core.MachineClients, len(cfg.MachineClients))
	for _, c := range cfg.MachineClients {
		out[c.ID] = core.MachineClient{ID: c.ID, Scopes: c.Scopes, Enabled: c.Enabled}
	}
	return out
}
