// Command gateway serves the routes of template.yaml on 127.0.0.1 by running each function's
// real bootstrap binary under aws-lambda-rie, AWS's Lambda Runtime Interface Emulator (one
// emulator process per function, invocations queued one at a time), much as
// `sam local start-api` does inside its containers. It also serves GET /local/echo behind the
// authorizer function, GET /local/outbox (the emails the functions sent, as the SES emulator
// recorded them), the demo page's static files and the example relying party at /local/rp/.
//
// Usage:
//
//	gateway [-addr 127.0.0.1:3000] [-template template.yaml] [-build-dir build] [-demo local/demo]
//	        [-vendor local/.state/demo-vendor] [-rp local/rp] [-rie aws-lambda-rie]
//
// The functions inherit the gateway's environment (table, key, endpoints…). The HTTP API's CORS
// (template.yaml's CorsConfiguration) allows the origins of LATCHKEY_RP_ORIGINS, as the deployed
// stacks allow their RpOrigins parameter. The outbox reads moto at AWS_ENDPOINT_URL_SESV2 (or,
// without it, AWS_ENDPOINT_URL_KMS: the same moto server locally). local/install.sh
// installs the pinned aws-lambda-rie into local/.tools/bin; make dev and make gateway pass
// that path with -rie.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	addr := flag.String("addr", "127.0.0.1:3000", "address to serve on")
	template := flag.String("template", "template.yaml", "SAM template whose HttpApi routes to serve")
	buildDir := flag.String("build-dir", "build", "folder holding linux_<arch>/<function>/bootstrap")
	demoDir := flag.String("demo", "local/demo", "folder of static files served under /")
	vendorDir := flag.String("vendor", "", "folder of third-party static files served under /vendor/ (none when empty)")
	rpDir := flag.String("rp", "", "folder of the example relying party served under /local/rp/ (none when empty)")
	rie := flag.String("rie", "aws-lambda-rie", "the Lambda Runtime Interface Emulator: a path, or a name looked up in PATH")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	g, err := NewGateway(Config{
		Template:  *template,
		BuildDir:  *buildDir,
		Arch:      runtime.GOARCH,
		Emulator:  *rie,
		DemoDir:   *demoDir,
		VendorDir: *vendorDir,
		RPDir:     *rpDir,
		Env:       os.Environ(),
		LogOut:    os.Stderr,
		Origins:   origins(os.Getenv("LATCHKEY_RP_ORIGINS")),
		Moto:      motoURL(os.Getenv),
	}, log)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("gateway listening", "url", "http://"+ln.Addr().String())

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	g.Stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// motoURL is the moto server the outbox reads: SES's endpoint, else KMS's (one moto serves
// both locally).
func motoURL(getenv func(string) string) string {
	if u := strings.TrimSpace(getenv("AWS_ENDPOINT_URL_SESV2")); u != "" {
		return u
	}
	return strings.TrimSpace(getenv("AWS_ENDPOINT_URL_KMS"))
}

// origins splits a comma-separated list of origins, as the template's !Split does.
func origins(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
