// Command echofn is the gateway tests' Lambda function. As a route handler it answers with the
// event it received, or misbehaves on purpose depending on the path; as an authorizer it
// decides by the Authorization header.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	fmt.Println("echofn starting, FROM_TEMPLATE=" + os.Getenv("FROM_TEMPLATE"))
	lambda.Start(handle)
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Type    string            `json:"type"`
		RawPath string            `json:"rawPath"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	if probe.Type == "REQUEST" {
		return authorize(probe.Headers["authorization"])
	}
	fmt.Println("echofn handling " + probe.RawPath)
	switch probe.RawPath {
	case "/crash":
		os.Exit(3)
	case "/sleep":
		<-ctx.Done() // past the deadline the emulator kills us
		time.Sleep(time.Hour)
	case "/error":
		return nil, errors.New("boom")
	case "/simple":
		return "hello", nil
	case "/simple-object":
		return map[string]int{"n": 1}, nil
	case "/binary":
		return events.APIGatewayV2HTTPResponse{
			StatusCode:        201,
			Headers:           map[string]string{"Content-Type": "application/octet-stream"},
			MultiValueHeaders: map[string][]string{"X-Multi": {"a", "b"}},
			Cookies:           []string{"a=1; Path=/", "b=2; HttpOnly"},
			Body:              base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}),
			IsBase64Encoded:   true,
		}, nil
	case "/env":
		return map[string]string{
			"FROM_TEMPLATE":                   os.Getenv("FROM_TEMPLATE"),
			"FROM_GATEWAY":                    os.Getenv("FROM_GATEWAY"),
			"AWS_LAMBDA_FUNCTION_NAME":        os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
			"_HANDLER":                        os.Getenv("_HANDLER"),
		}, nil
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(raw),
	}, nil
}

// authorize answers as a simple-response HTTP API authorizer.
func authorize(token string) (any, error) {
	switch token {
	case "Bearer good":
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{
			IsAuthorized: true,
			Context:      map[string]any{"sub": "u1", "scope": "read"},
		}, nil
	case "Bearer deny":
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
	case "Bearer junk":
		return map[string]string{"isAuthorized": "yes"}, nil
	default:
		return nil, errors.New("authorizer failure")
	}
}
