// Package boot reads a function's configuration from the environment once, at cold start,
// validates it and sets up JSON logging. A missing or bad value stops the cold start with one
// clear line rather than failing on the first request.
package boot

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is everything a Latchkey function reads from its environment.
type Config struct {
	Table       string        // LATCHKEY_TABLE: the single DynamoDB table
	Issuer      string        // LATCHKEY_ISSUER: iss of access tokens, an absolute URL
	Audience    string        // LATCHKEY_AUDIENCE: aud of access tokens
	SigningKeys []string      // LATCHKEY_SIGNING_KEYS: KMS key ids or ARNs, comma separated; the first signs
	SecretID    string        // LATCHKEY_SECRET_ID: Secrets Manager secret holding the HMAC key
	RPID        string        // LATCHKEY_RP_ID: WebAuthn relying party id
	RPOrigins   []string      // LATCHKEY_RP_ORIGINS: allowed WebAuthn origins, comma separated
	AccessTTL   time.Duration // LATCHKEY_ACCESS_TTL: access-token lifetime, default 10m
	Version     string        // LATCHKEY_VERSION: reported by /health, default "dev"
}

// Need names the optional parts of Config a function requires; Table, Issuer, Audience and
// SigningKeys are always required.
type Need struct {
	Secret bool // LATCHKEY_SECRET_ID
	RP     bool // LATCHKEY_RP_ID and LATCHKEY_RP_ORIGINS
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
	}
	if c.Version == "" {
		c.Version = "dev"
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
	}
	var err error
	if c.AccessTTL, err = duration(getenv, "LATCHKEY_ACCESS_TTL", 10*time.Minute, time.Minute, 24*time.Hour); err != nil {
		errs = append(errs, err)
	}
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
