// Command infra is the CDK app that deploys Latchkey. Run it through infra/cdk.sh (or
// `make synth` / `make deploy`), which builds the function binaries first; docs/deploy.md
// describes the parameters and outputs.
//
// Context (cdk -c key=value):
//
//	stackName        the CloudFormation stack name (default Latchkey)
//	buildDir         where `make build ARCH=arm64` put the binaries (default ../build/linux_arm64)
//	placeholderCode  "true" packages a stub bootstrap for functions that are not built yet, so
//	                 the template can be synthesized and linted before anything is compiled
//	                 (infra/check.sh); never deploy such a synth
//	allFunctions     "true" includes the functions of the catalog that are not enabled yet, so
//	                 infra/check.sh lints them before they are deployed
//
// `go run . functions` prints the names of the functions the stack deploys, one a line, and
// exits; infra/cdk.sh builds exactly those.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "functions" {
		for _, fn := range Enabled() {
			fmt.Println(fn.Name)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	stackName := contextString(app, "stackName", "Latchkey")
	buildDir := contextString(app, "buildDir", filepath.Join("..", "build", "linux_arm64"))
	placeholder := contextString(app, "placeholderCode", "false") == "true"

	fns := Enabled()
	if contextString(app, "allFunctions", "false") == "true" {
		fns = catalog
	}
	missing, err := missingBinaries(buildDir, fns)
	if err != nil {
		return err
	}
	stub := ""
	if len(missing) > 0 {
		if !placeholder {
			return fmt.Errorf("no bootstrap binary for %v under %s: run `make build ARCH=arm64` (infra/cdk.sh does), or pass -c placeholderCode=true to synthesize for linting only", missing, buildDir)
		}
		stub, err = stubPackage()
		if err != nil {
			return err
		}
		defer os.RemoveAll(stub)
	}

	stack := NewLatchkeyStack(app, stackName, &LatchkeyStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("Latchkey - passkey-first authentication on AWS Lambda"),
		},
		Functions: fns,
		Code: func(name string) awslambda.Code {
			if stub != "" && slices.Contains(missing, name) {
				return awslambda.Code_FromAsset(jsii.String(stub), nil)
			}
			return awslambda.Code_FromAsset(jsii.String(filepath.Join(buildDir, name)), nil)
		},
	})
	if stub != "" {
		awscdk.Annotations_Of(stack.Stack).AddWarningV2(jsii.String("latchkey:placeholderCode"),
			jsii.String(fmt.Sprintf("functions %v use a stub bootstrap (placeholderCode=true): lint only, do not deploy", missing)))
	}
	app.Synth(nil)
	return nil
}

// contextString returns the CDK context value key as a string, or def when it is unset.
func contextString(app awscdk.App, key, def string) string {
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case string:
		if v != "" {
			return v
		}
	case bool:
		return fmt.Sprint(v)
	}
	return def
}

// missingBinaries lists the functions of fns that have no <buildDir>/<name>/bootstrap.
func missingBinaries(buildDir string, fns []Function) ([]string, error) {
	var missing []string
	for _, fn := range fns {
		_, err := os.Stat(filepath.Join(buildDir, fn.Name, "bootstrap"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, fn.Name)
		case err != nil:
			return nil, err
		}
	}
	return missing, nil
}

// stubPackage writes a directory holding a bootstrap that only explains itself and fails.
func stubPackage() (string, error) {
	dir, err := os.MkdirTemp("", "latchkey-stub-")
	if err != nil {
		return "", err
	}
	script := "#!/bin/sh\necho 'latchkey: placeholder package, build the functions with make build ARCH=arm64' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}
