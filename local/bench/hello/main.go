// Command hello is the smallest Go Lambda, the baseline of the bench's cold starts: the
// runtime client of aws-lambda-go and a handler that answers a constant.
package main

import "github.com/aws/aws-lambda-go/lambda"

func main() {
	lambda.Start(func() (string, error) { return "hello", nil })
}
