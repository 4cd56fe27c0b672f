package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
		HTTPClient:  oneWrite{httpClient()},
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

// maxOneWrite is the largest request body oneWrite holds in memory; every request Latchkey
// sends is far smaller (a few hundred bytes to a few KB).
const maxOneWrite = 64 << 10

// oneWrite is the SDK's HTTP client (aws.Config.HTTPClient) with each request's body handed to
// net/http as an in-memory reader, so that the request line, the headers and the body leave in
// one write. The SDK passes its serialized body in a reader of its own, which net/http cannot
// tell is in memory; it then flushes the headers before the body, and every call costs a second
// system call and a second TCP segment (a second TLS record in AWS) — measured with strace, a
// KMS call was written as 681 bytes and then 87. The body is read in full first; the signature
// (made over the body's hash) and Content-Length are untouched. Bodies of unknown length or
// larger than maxOneWrite go through as they came.
type oneWrite struct{ c *http.Client }

// Do sends req through the wrapped client, its body read into memory first.
func (w oneWrite) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 || req.ContentLength > maxOneWrite {
		return w.c.Do(req)
	}
	body := make([]byte, req.ContentLength)
	_, err := io.ReadFull(req.Body, body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	out := req.WithContext(req.Context()) // a shallow copy: the caller's request is not changed
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return w.c.Do(out)
}
