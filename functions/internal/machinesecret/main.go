// Command machinesecret (make machine-secret) manages the machine clients' secrets of a
// deployment in its MachineSecret (the stack output MachineSecretArn): it reads the secret,
// applies one step to one client and writes it back, and prints the secret the client must
// now use, if any, on stdout and nothing else there:
//
//	create  CLIENT   a first secret for a client newly declared in MachineClients
//	rotate  CLIENT   a next secret beside the current one; both work (hand it to the client)
//	promote CLIENT   the next secret becomes the current one; the old one stops working
//	remove  CLIENT   the client's secrets are gone (undeclare it in MachineClients too)
//	show    CLIENT   print the current secret (and the next one, on a second line)
//
// The sessions function sees each step within LATCHKEY_MACHINE_SECRET_MAX_AGE (1 minute by
// default). It uses the SDK's usual credential chain (AWS_PROFILE, SSO, the environment), and
// the secret from -secret-id or LATCHKEY_MACHINE_SECRET_ID. Two operators running steps on
// the same deployment at once may lose one of the writes: run one at a time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core/secrets"
)

// API is what the command asks of Secrets Manager.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "machine-secret:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("machine-secret", flag.ContinueOnError)
	id := flags.String("secret-id", os.Getenv("LATCHKEY_MACHINE_SECRET_ID"), "ARN or name of the MachineSecret (default $LATCHKEY_MACHINE_SECRET_ID)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 2 || *id == "" {
		return errors.New("usage: machine-secret [-secret-id ARN] create|rotate|promote|remove|show CLIENT")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	return Step(ctx, secretsmanager.NewFromConfig(cfg), *id, flags.Arg(0), flags.Arg(1), stdout)
}

// Step applies one step (see the command's doc) to client in secret id through api, and
// prints the secret the client must now use, if any.
func Step(ctx context.Context, api API, id, step, client string, stdout io.Writer) error {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("read %s: %w", id, err)
	}
	raw := out.SecretBinary
	if out.SecretString != nil {
		raw = []byte(*out.SecretString)
	}
	layout, err := secrets.ParseMachineLayout(raw)
	if err != nil {
		return err
	}
	var give string
	switch step {
	case "create":
		give, err = layout.Create(client)
	case "rotate":
		give, err = layout.Rotate(client)
	case "promote":
		err = layout.Promote(client)
	case "remove":
		if _, ok := layout[client]; !ok {
			err = fmt.Errorf("client %q has no secret", client)
		}
		delete(layout, client)
	case "show":
		e, ok := layout[client]
		if !ok {
			return fmt.Errorf("client %q has no secret", client)
		}
		_, err = fmt.Fprintln(stdout, e.Current)
		if e.Next != "" && err == nil {
			_, err = fmt.Fprintln(stdout, e.Next)
		}
		return err
	default:
		return fmt.Errorf("unknown step %q: create, rotate, promote, remove or show", step)
	}
	if err != nil {
		return err
	}
	if _, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(string(layout.Marshal()))}); err != nil {
		return fmt.Errorf("write %s: %w", id, err)
	}
	if give != "" {
		_, err = fmt.Fprintln(stdout, give)
	}
	return err
}
