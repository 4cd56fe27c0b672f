package boot

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// AWS builds the SDK configuration from the Lambda environment: AWS_REGION and the
// credentials Lambda puts in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
// It deliberately does not use the SDK's config package, whose shared-file, SSO and STS
// providers a Lambda never needs and which would add megabytes to every binary. Endpoints for
// the local emulators come from the standard AWS_ENDPOINT_URL_<SERVICE> variables. Retries are
// bounded, and the HTTP transport bounds dialling and waiting for an answer (httpClient), so a
// failing or hung dependency turns into a 503 well inside the function timeout. The DynamoDB and
// KMS clients get the options of serviceOptions (endpoint.go).
func AWS(_ context.Context, getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	var errs []error
	if region == "" {
		errs = append(errs, errors.New("AWS_REGION is not set"))
	}
	if id == "" || secret == "" {
		errs = append(errs, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"))
	}
	if len(errs) > 0 {
		return aws.Config{}, errors.Join(errs...)
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")),
		HTTPClient:  httpClient(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 200 * time.Millisecond
			})
		},
		ConfigSources:  []any{envEndpoints(getenv)},
		ServiceOptions: []func(string, any){serviceOptions},
	}, nil
}

// envEndpoints answers the SDK's per-service endpoint lookup from AWS_ENDPOINT_URL_<SERVICE>,
// the service id upper-cased with spaces as underscores (AWS_ENDPOINT_URL_SECRETS_MANAGER), as
// the SDK's own environment provider does.
type envEndpoints func(string) string

// GetServiceBaseEndpoint implements the SDK's ServiceBaseEndpointProvider.
func (e envEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	name := "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_"))
	if v := e(name); v != "" {
		return v, true, nil
	}
	return "", false, nil
}

// httpClient is the SDK's HTTP client: a transport of its own (not http.DefaultTransport,
// which waits for an answer forever) with the dial, TLS handshake and response-header
// timeouts of limits.go. A whole call is bounded by the caller's context (Deadline); these
// bound each attempt, also where no caller set a deadline.
func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       IdleConnTimeout,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}}
}
