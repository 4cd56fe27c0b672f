// Command hello is the smallest Go Lambda, the baseline of the bench's cold starts: the
// runtime client of aws-lambda-go and a handler that answers a constant. Like every Latchkey
// function in Lambda below one vCPU (boot.FitScheduler), it runs one scheduler thread from the
// start of main, so that the runtime's start before main and the loop after it cost what they
// cost the functions.
package main

import (
	"runtime"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	runtime.GOMAXPROCS(1)
	lambda.Start(func() (string, error) { return "hello", nil })
}
