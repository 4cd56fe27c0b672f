package boot

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// serviceOptions tunes the clients built from AWS's config (aws.Config.ServiceOptions, which
// every NewFromConfig applies after the client's defaults):
//
//   - DynamoDB does not check the CRC32 of each response (DisableValidateResponseChecksum):
//     the connection is TLS in Lambda, which already guards the body, and the check wraps and
//     hashes every response.
//   - DynamoDB and KMS resolve their endpoint through the SDK's own rules once per set of
//     parameters and then answer from that (cachedEndpoint), rather than binding and running
//     the rules engine on every call. AWS_ENDPOINT_URL_<SERVICE> (the local stack) still
//     arrives as the BaseEndpoint parameter and is honoured, since it is part of the key.
func serviceOptions(_ string, options any) {
	switch o := options.(type) {
	case *dynamodb.Options:
		o.DisableValidateResponseChecksum = true
		if o.EndpointResolverV2 != nil {
			o.EndpointResolverV2 = &cachedEndpoint[dynamodb.EndpointParameters]{next: o.EndpointResolverV2, key: dynamoEndpointKey}
		}
	case *kms.Options:
		if o.EndpointResolverV2 != nil {
			o.EndpointResolverV2 = &cachedEndpoint[kms.EndpointParameters]{next: o.EndpointResolverV2, key: kmsEndpointKey}
		}
	}
}

// endpointKey is what a cached endpoint depends on: the parameters that select it.
type endpointKey struct {
	region, endpoint, accountMode string
	fips, dualStack, search       bool
}

// cachedEndpoint is an EndpointResolverV2 that asks next (the SDK's default resolver) once for
// each key and remembers the last answer. Parameters that key cannot express (key's false)
// always go to next.
type cachedEndpoint[P any] struct {
	next interface {
		ResolveEndpoint(context.Context, P) (smithyendpoints.Endpoint, error)
	}
	key  func(P) (endpointKey, bool)
	last atomic.Pointer[resolvedEndpoint]
}

type resolvedEndpoint struct {
	key      endpointKey
	endpoint smithyendpoints.Endpoint
}

// ResolveEndpoint implements the service's EndpointResolverV2. The endpoint is returned by
// value; the SDK's endpoint middleware only reads its headers and properties and changes its
// own copy of the URL.
func (c *cachedEndpoint[P]) ResolveEndpoint(ctx context.Context, params P) (smithyendpoints.Endpoint, error) {
	k, ok := c.key(params)
	if !ok {
		return c.next.ResolveEndpoint(ctx, params)
	}
	if r := c.last.Load(); r != nil && r.key == k {
		return r.endpoint, nil
	}
	e, err := c.next.ResolveEndpoint(ctx, params)
	if err != nil {
		return e, err
	}
	c.last.Store(&resolvedEndpoint{key: k, endpoint: e})
	return e, nil
}

// dynamoEndpointKey keys DynamoDB's parameters. A table given by name selects nothing; a table
// ARN or an account id may select an account endpoint, so those are never cached.
func dynamoEndpointKey(p dynamodb.EndpointParameters) (endpointKey, bool) {
	if p.AccountId != nil || isARN(p.ResourceArn) {
		return endpointKey{}, false
	}
	for _, r := range p.ResourceArnList {
		if strings.HasPrefix(r, "arn:") {
			return endpointKey{}, false
		}
	}
	return endpointKey{
		region: deref(p.Region), endpoint: deref(p.Endpoint), accountMode: deref(p.AccountIdEndpointMode),
		fips: derefBool(p.UseFIPS), dualStack: derefBool(p.UseDualStack), search: derefBool(p.IsSearchOperation),
	}, true
}

func kmsEndpointKey(p kms.EndpointParameters) (endpointKey, bool) {
	return endpointKey{region: deref(p.Region), endpoint: deref(p.Endpoint), fips: derefBool(p.UseFIPS), dualStack: derefBool(p.UseDualStack)}, true
}

func isARN(s *string) bool { return s != nil && strings.HasPrefix(*s, "arn:") }

func deref(s *string) string {
	if s == nil {
		return "\x00" // unset, unlike ""
	}
	return *s
}

func derefBool(b *bool) bool { return b != nil && *b }
