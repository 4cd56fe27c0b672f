// Package boot reads a function's configuration from the environment once, at cold start,
// validates it and sets up JSON logging. A missing or bad value stops the cold start with one
// clear line rather than failing on the first request.
package boot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core/oidc"
)

// Config is everything a Latchkey function reads from its environment.
type Config struct {
	Table       string        // LATCHKEY_TABLE: the single DynamoDB table
	Issuer      string        // LATCHKEY_ISSUER: iss of access tokens, an absolute URL
	Audience    string        // LATCHKEY_AUDIENCE: aud of access tokens
	ClientID    string        // LATCHKEY_CLIENT_ID: the public OAuth client (client_id of every access token), default "latchkey"
	SigningKeys []string      // LATCHKEY_SIGNING_KEYS: KMS key ids or ARNs, comma separated; the first signs
	SecretID    string        // LATCHKEY_SECRET_ID: Secrets Manager secret holding the HMAC key
	RPID        string        // LATCHKEY_RP_ID: WebAuthn relying party id
	RPOrigins   []string      // LATCHKEY_RP_ORIGINS: allowed WebAuthn origins, comma separated
	RPName      string        // LATCHKEY_RP_NAME: relying party name authenticators show, default the RP ID
	Attestation string        // LATCHKEY_ATTESTATION: WebAuthn attestation conveyance, none (default), indirect, direct or enterprise
	AccessTTL   time.Duration // LATCHKEY_ACCESS_TTL: access-token lifetime, default 10m
	SessionTTL  time.Duration // LATCHKEY_SESSION_TTL: absolute session lifetime, default 720h (30 days)
	SessionIdle time.Duration // LATCHKEY_SESSION_IDLE: a session unused this long ends, default 168h (7 days)
	Grace       time.Duration // LATCHKEY_REFRESH_GRACE: retry window of a rotated refresh token, default 10s, 0 disables
	ReauthAge   time.Duration // LATCHKEY_REAUTH_MAX_AGE: how recent a sign-in factor changes need, default 5m, 1m to 1h
	// IntrospectionClients maps client id to the hex SHA-256 of its secret, from
	// LATCHKEY_INTROSPECTION_CLIENTS ("id:sha256hex,..."); empty disables introspection.
	IntrospectionClients map[string]string
	// MachineClients are LATCHKEY_MACHINE_CLIENTS: the confidential clients of the
	// client_credentials grant, a JSON array [{"id":"ci","scopes":["orders:read"]}] (each may
	// say "enabled": false); empty or [] declares none.
	MachineClients []MachineClient
	// MachineSecretID is LATCHKEY_MACHINE_SECRET_ID: the Secrets Manager secret holding the
	// machine clients' secrets; required by a function that needs the secret and has machine
	// clients.
	MachineSecretID string
	// MachineSecretMaxAge is LATCHKEY_MACHINE_SECRET_MAX_AGE: how long a function uses its copy
	// of the machine clients' secrets before reading them again, default 1m, 0 to 1h.
	MachineSecretMaxAge time.Duration
	// RouteScopes is LATCHKEY_ROUTE_SCOPES: the authorizer's route policy, from a route
	// ("GET /orders/{id}") to the scopes a credential needs there, a JSON object; empty requires
	// no scope anywhere.
	RouteScopes map[string][]string
	// EmailFrom is LATCHKEY_EMAIL_FROM: the sender of every email, an address of a verified
	// SES identity, optionally with a display name ("Example <no-reply@example.com>").
	EmailFrom string
	// EmailRequired is LATCHKEY_EMAIL_REQUIRED (default true): sign-up needs a verified email;
	// false also allows accounts without one.
	EmailRequired bool
	// RecoveryDelay is LATCHKEY_RECOVERY_DELAY: how long an email recovery waits before it
	// can complete, default 24h, 0 to 720h.
	RecoveryDelay time.Duration
	// APIKeyEnv is LATCHKEY_API_KEY_ENV: the environment API keys name, live (default) or
	// test; the authorizer refuses a key of the other without a read.
	APIKeyEnv string
	// APIKeysMax is LATCHKEY_API_KEYS_MAX: how many API keys one account may hold, default
	// 25, 1 to 48.
	APIKeysMax int
	// UserScopes is LATCHKEY_USER_SCOPES: the scopes users hold, space separated (RFC 6749
	// scope tokens), default none; an API key may carry any of them.
	UserScopes []string
	// OIDCClients are LATCHKEY_OIDC_CLIENTS: the relying parties of the OpenID provider, a JSON
	// array (core/oidc.ParseClients); empty or [] declares none. A confidential client's secret
	// is in the MachineSecret, beside the machine clients'.
	OIDCClients oidc.Clients
	// IDTokenKeys are LATCHKEY_ID_TOKEN_KEYS: the KMS RSA keys of ID tokens (RS256), comma
	// separated, the first signs; required by a function that needs them (Need.IDToken).
	IDTokenKeys []string
	// ProviderSessionTTL is LATCHKEY_PROVIDER_SESSION_TTL: how long a sign-in on the hosted page
	// serves every client without another ceremony (single sign-on), default 12h, 5m to 720h.
	ProviderSessionTTL time.Duration
	Version            string        // LATCHKEY_VERSION: reported by /health, default "dev"
	Leeway             time.Duration // clock skew tolerated on token times: Leeway
	Limits             Limits        // rate limits: DefaultLimits, each overridable by its LimitVars variable
}

// Need names the optional parts of Config a function requires; Table, Issuer, Audience and
// SigningKeys are always required.
type Need struct {
	Secret bool // LATCHKEY_SECRET_ID
	RP     bool // LATCHKEY_RP_ID and LATCHKEY_RP_ORIGINS
	Email  bool // LATCHKEY_EMAIL_FROM
	// IDToken: LATCHKEY_ID_TOKEN_KEYS (the functions that publish or sign ID tokens).
	IDToken bool
}

// Load reads Config through getenv (os.Getenv in production) and validates it. All problems
// are reported at once.
func Load(getenv func(string) string, need Need) (Config, error) {
	var errs []error
	required := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
		return v
	}
	c := Config{
		Table:       required("LATCHKEY_TABLE"),
		Issuer:      required("LATCHKEY_ISSUER"),
		Audience:    required("LATCHKEY_AUDIENCE"),
		SigningKeys: list(required("LATCHKEY_SIGNING_KEYS")),
		Version:     strings.TrimSpace(getenv("LATCHKEY_VERSION")),
		Leeway:      Leeway,
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.ClientID = strings.TrimSpace(getenv("LATCHKEY_CLIENT_ID")); c.ClientID == "" {
		c.ClientID = "latchkey"
	} else if !validClientID(c.ClientID) {
		errs = append(errs, fmt.Errorf("LATCHKEY_CLIENT_ID: %q is not 1 to 64 letters, digits, '-', '.', '_' or '~'", c.ClientID))
	}
	if c.Issuer != "" {
		if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, errors.New("LATCHKEY_ISSUER must be an absolute http(s) URL without query or fragment"))
		}
		c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	}
	if need.Secret {
		c.SecretID = required("LATCHKEY_SECRET_ID")
	}
	if need.RP {
		c.RPID = required("LATCHKEY_RP_ID")
		c.RPOrigins = list(required("LATCHKEY_RP_ORIGINS"))
		for _, o := range c.RPOrigins {
			if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				errs = append(errs, fmt.Errorf("LATCHKEY_RP_ORIGINS: %q is not an origin like https://app.example.com", o))
			}
		}
		switch c.Attestation = strings.ToLower(strings.TrimSpace(getenv("LATCHKEY_ATTESTATION"))); c.Attestation {
		case "":
			c.Attestation = "none"
		case "none", "indirect", "direct", "enterprise":
		default:
			errs = append(errs, fmt.Errorf("LATCHKEY_ATTESTATION: %q is not none, indirect, direct or enterprise", c.Attestation))
		}
	}
	if c.RPName = strings.TrimSpace(getenv("LATCHKEY_RP_NAME")); c.RPName == "" {
		c.RPName = strings.TrimSpace(getenv("LATCHKEY_RP_ID"))
	}
	if c.RPName == "" {
		c.RPName = "Latchkey"
	}
	if need.Email {
		if c.EmailFrom = required("LATCHKEY_EMAIL_FROM"); c.EmailFrom != "" {
			if _, err := mail.ParseAddress(c.EmailFrom); err != nil {
				errs = append(errs, fmt.Errorf("LATCHKEY_EMAIL_FROM: %q is not an address like no-reply@example.com", c.EmailFrom))
			}
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("LATCHKEY_EMAIL_REQUIRED"))); v {
	case "", "true":
		c.EmailRequired = true
	case "false":
	default:
		errs = append(errs, fmt.Errorf("LATCHKEY_EMAIL_REQUIRED: %q is not true or false", v))
	}
	var err error
	if c.RecoveryDelay, err = duration(getenv, "LATCHKEY_RECOVERY_DELAY", 24*time.Hour, 0, 720*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.AccessTTL, err = duration(getenv, "LATCHKEY_ACCESS_TTL", 10*time.Minute, time.Minute, 24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.SessionTTL, err = duration(getenv, "LATCHKEY_SESSION_TTL", 720*time.Hour, time.Hour, 8760*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.SessionIdle, err = duration(getenv, "LATCHKEY_SESSION_IDLE", 168*time.Hour, 10*time.Minute, 8760*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.Grace, err = duration(getenv, "LATCHKEY_REFRESH_GRACE", 10*time.Second, 0, time.Minute); err != nil {
		errs = append(errs, err)
	}
	if c.ReauthAge, err = duration(getenv, "LATCHKEY_REAUTH_MAX_AGE", 5*time.Minute, time.Minute, time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.IntrospectionClients, err = clients(getenv("LATCHKEY_INTROSPECTION_CLIENTS")); err != nil {
		errs = append(errs, err)
	}
	switch c.APIKeyEnv = strings.TrimSpace(getenv("LATCHKEY_API_KEY_ENV")); c.APIKeyEnv {
	case "":
		c.APIKeyEnv = "live"
	case "live", "test":
	default:
		errs = append(errs, fmt.Errorf("LATCHKEY_API_KEY_ENV: %q is not live or test", c.APIKeyEnv))
	}
	c.APIKeysMax = 25
	if v := strings.TrimSpace(getenv("LATCHKEY_API_KEYS_MAX")); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 48 {
			errs = append(errs, fmt.Errorf("LATCHKEY_API_KEYS_MAX: %q is not a whole number from 1 to 48", v))
		} else {
			c.APIKeysMax = n
		}
	}
	for _, s := range strings.Fields(getenv("LATCHKEY_USER_SCOPES")) {
		if !validScope(s) {
			errs = append(errs, fmt.Errorf("LATCHKEY_USER_SCOPES: %q is not a scope token (RFC 6749 §3.3)", s))
		}
		if !slices.Contains(c.UserScopes, s) {
			c.UserScopes = append(c.UserScopes, s)
		}
	}
	var machineErrs []error
	c.MachineClients, machineErrs = machineClients(getenv("LATCHKEY_MACHINE_CLIENTS"), c.ClientID)
	errs = append(errs, machineErrs...)
	c.MachineSecretID = strings.TrimSpace(getenv("LATCHKEY_MACHINE_SECRET_ID"))
	if need.Secret && len(c.MachineClients) > 0 && c.MachineSecretID == "" {
		errs = append(errs, errors.New("LATCHKEY_MACHINE_SECRET_ID is required with LATCHKEY_MACHINE_CLIENTS"))
	}
	if c.MachineSecretMaxAge, err = duration(getenv, "LATCHKEY_MACHINE_SECRET_MAX_AGE", time.Minute, 0, time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.RouteScopes, err = routeScopes(getenv("LATCHKEY_ROUTE_SCOPES")); err != nil {
		errs = append(errs, err)
	}
	reserved := []string{c.ClientID}
	for _, m := range c.MachineClients {
		reserved = append(reserved, m.ID)
	}
	if c.OIDCClients, err = oidc.ParseClients(getenv("LATCHKEY_OIDC_CLIENTS"), reserved...); err != nil {
		errs = append(errs, err)
	}
	if need.Secret && c.MachineSecretID == "" {
		for _, oc := range c.OIDCClients {
			if oc.Confidential {
				errs = append(errs, errors.New("LATCHKEY_MACHINE_SECRET_ID is required with a confidential client in LATCHKEY_OIDC_CLIENTS"))
				break
			}
		}
	}
	if need.IDToken {
		c.IDTokenKeys = list(required("LATCHKEY_ID_TOKEN_KEYS"))
	}
	if c.ProviderSessionTTL, err = duration(getenv, "LATCHKEY_PROVIDER_SESSION_TTL", 12*time.Hour, 5*time.Minute, 720*time.Hour); err != nil {
		errs = append(errs, err)
	}
	var limitErrs []error
	c.Limits, limitErrs = loadLimits(getenv)
	errs = append(errs, limitErrs...)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// Duration reads an optional Go duration (e.g. "10m") from name, bounded by [min, max].
func duration(getenv func(string) string, name string, def, min, max time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration like 10m", name, v)
	}
	if d < min || d > max {
		return 0, fmt.Errorf("%s: %s is outside [%s, %s]", name, d, min, max)
	}
	return d, nil
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// clients parses "id:sha256hex,id2:sha256hex".
func clients(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, entry := range list(s) {
		id, sum, ok := strings.Cut(entry, ":")
		if !ok || id == "" || len(sum) != 64 || strings.Trim(strings.ToLower(sum), "0123456789abcdef") != "" {
			return nil, errors.New("LATCHKEY_INTROSPECTION_CLIENTS: want id:sha256hex entries separated by commas")
		}
		out[id] = strings.ToLower(sum)
	}
	return out, nil
}

// validScope accepts an RFC 6749 §3.3 scope token: printable ASCII but space, " and \.
func validScope(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

// validClientID accepts 1 to 64 URL-unreserved characters (RFC 3986 §2.3): a client id that
// needs no escaping in a form, a Basic credential or a JWT claim.
func validClientID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '~':
		default:
			return false
		}
	}
	return s != ""
}

// MachineClient is one entry of LATCHKEY_MACHINE_CLIENTS.
type MachineClient struct {
	ID      string
	Scopes  []string
	Enabled bool
}

// maxMachineClients bounds LATCHKEY_MACHINE_CLIENTS. Lambda's whole environment is at most
// 4 KB, which this many short entries already nearly fill.
const maxMachineClients = 50

// machineClients parses LATCHKEY_MACHINE_CLIENTS: a JSON array of {"id", "scopes", "enabled"}
// ("enabled" defaults to true), ids in the client-id alphabet (validClientID), unique and
// never the public client's, scopes valid scope tokens. Unknown members are refused, so a typo
// ("scope") is not silently a client without scopes. One error per problem.
func machineClients(raw, public string) ([]MachineClient, []error) {
	const name = "LATCHKEY_MACHINE_CLIENTS"
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	var entries []struct {
		ID      string   `json:"id"`
		Scopes  []string `json:"scopes"`
		Enabled *bool    `json:"enabled"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil || dec.More() {
		return nil, []error{fmt.Errorf(`%s: want a JSON array like [{"id":"ci","scopes":["orders:read"]}] (members id, scopes, enabled)`, name)}
	}
	if len(entries) > maxMachineClients {
		return nil, []error{fmt.Errorf("%s: %d clients, at most %d", name, len(entries), maxMachineClients)}
	}
	var (
		out  []MachineClient
		errs []error
		seen = map[string]bool{}
	)
	for i, e := range entries {
		switch {
		case !validClientID(e.ID):
			errs = append(errs, fmt.Errorf("%s: client %d: id %q is not 1 to 64 letters, digits, '-', '.', '_' or '~'", name, i+1, e.ID))
			continue
		case e.ID == public:
			errs = append(errs, fmt.Errorf("%s: client %q is the public client (LATCHKEY_CLIENT_ID)", name, e.ID))
			continue
		case seen[e.ID]:
			errs = append(errs, fmt.Errorf("%s: client %q is declared twice", name, e.ID))
			continue
		}
		seen[e.ID] = true
		for _, sc := range e.Scopes {
			if !validScope(sc) {
				errs = append(errs, fmt.Errorf("%s: client %q: %q is not a scope (printable ASCII, no space, quote or backslash)", name, e.ID, sc))
			}
		}
		out = append(out, MachineClient{ID: e.ID, Scopes: e.Scopes, Enabled: e.Enabled == nil || *e.Enabled})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// routeScopes parses LATCHKEY_ROUTE_SCOPES: a JSON object from a route, "<METHOD> <path>" as
// API Gateway names it (an HTTP API's routeKey such as "GET /orders/{id}", ANY for any method;
// for a REST API the method and the resource path), to the one or more scopes it requires.
func routeScopes(raw string) (map[string][]string, error) {
	const name = "LATCHKEY_ROUTE_SCOPES"
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	var m map[string][]string
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := dec.Decode(&m); err != nil || dec.More() || m == nil {
		return nil, fmt.Errorf(`%s: want a JSON object like {"GET /orders": ["orders:read"]}`, name)
	}
	var errs []error
	for route, scopes := range m {
		method, path, ok := strings.Cut(route, " ")
		if !ok || method == "" || strings.Trim(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t") {
			errs = append(errs, fmt.Errorf("%s: %q is not a route like \"GET /orders/{id}\"", name, route))
			continue
		}
		if len(scopes) == 0 {
			errs = append(errs, fmt.Errorf("%s: route %q lists no scope (leave an open route out)", name, route))
		}
		for _, sc := range scopes {
			if !validScope(sc) {
				errs = append(errs, fmt.Errorf("%s: route %q: %q is not a scope", name, route, sc))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}
