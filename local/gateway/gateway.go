package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Gateway is the local stand-in for the HTTP API: it routes requests to the functions, each
// run under its own aws-lambda-rie, and serves /local/echo behind the authorizer, the
// /local/outbox of the emails sent, the demo page's static files and the example relying
// party at /local/rp/.
type Gateway struct {
	router     Router
	emulators  map[string]*Emulator // by function name; missing when the binary is not built
	authorizer string               // function name of the authorizer, if the template has one
	demoDir    string
	vendorDir  string
	rpDir      string
	cors       CORS // the HTTP API's CORS, answered before any route
	// motoURL is the SES emulator whose sent messages /local/outbox shows; outboxClient reads it.
	motoURL      string
	outboxClient *http.Client
	log          *slog.Logger
}

// authorizerName is the function name of the template's AuthorizerFunction.
const authorizerName = "authorizer"

// vendorPrefix is where the files of Config.VendorDir are served.
const vendorPrefix = "/vendor/"

// rpPrefix is where the files of Config.RPDir are served; rpCallback, the example relying
// party's redirect URI, serves its index.html too (the page tells the two apart by its path).
const (
	rpPrefix   = "/local/rp/"
	rpCallback = "/local/rp/callback"
)

// echoPath is the local-only route that shows what the authorizer passes to a backend.
const echoPath = "/local/echo"

// Config says where the gateway finds its template, binaries, emulator and static files.
type Config struct {
	Template string
	BuildDir string // binaries at <BuildDir>/linux_<arch>/<name>/bootstrap
	Arch     string
	// Emulator is aws-lambda-rie, AWS's Lambda Runtime Interface Emulator: a path, or a name
	// looked up in PATH. local/install.sh installs it into local/.tools/bin.
	Emulator string
	DemoDir  string
	// VendorDir holds third-party files the demo page loads (the npm bundle of
	// @simplewebauthn/browser, copied there by make dev), served under /vendor/. They live
	// outside DemoDir so that nothing installed from npm is ever committed.
	VendorDir string
	// RPDir holds the example relying party (local/rp: a page and its script, which load
	// oidc-client-ts from /vendor/), served under /local/rp/ and at /local/rp/callback.
	// Empty: nothing is served there.
	RPDir  string
	Env    []string  // environment of the functions, before Lambda's own variables
	LogOut io.Writer // where function output goes, line by line
	// Origins are the origins the HTTP API's CORS allows (the deployed stacks' RpOrigins
	// parameter; locally LATCHKEY_RP_ORIGINS). None answers no CORS.
	Origins []string
	// Moto is the URL of the moto server whose SES records the emails the functions send,
	// shown at /local/outbox (main takes it from AWS_ENDPOINT_URL_SESV2, else _KMS). Empty:
	// the outbox answers 503.
	Moto string
}

// NewGateway parses the template and starts an emulator for every function whose binary is
// built; each function starts on its first invocation. Functions without a binary are logged;
// their routes answer 500.
func NewGateway(cfg Config, log *slog.Logger) (*Gateway, error) {
	fns, err := LoadTemplate(cfg.Template)
	if err != nil {
		return nil, err
	}
	rie, err := exec.LookPath(cfg.Emulator)
	if err != nil {
		return nil, fmt.Errorf("aws-lambda-rie not found (local/install.sh installs it into local/.tools/bin): %w", err)
	}
	cors, err := LoadCORS(cfg.Template, cfg.Origins)
	if err != nil {
		return nil, err
	}
	g := &Gateway{emulators: map[string]*Emulator{}, demoDir: cfg.DemoDir, vendorDir: cfg.VendorDir, rpDir: cfg.RPDir, cors: cors,
		motoURL: cfg.Moto, outboxClient: &http.Client{Transport: &http.Transport{}}, log: log} // no proxy: moto is on loopback
	for _, fn := range fns {
		g.router.routes = append(g.router.routes, fn.Routes...)
		if fn.Name == authorizerName {
			g.authorizer = fn.Name
		}
		bin, err := filepath.Abs(filepath.Join(cfg.BuildDir, "linux_"+cfg.Arch, fn.Name, "bootstrap"))
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(bin); err != nil {
			log.Warn("function not built; its routes will answer 500", "function", fn.Name, "binary", bin)
			continue
		}
		g.emulators[fn.Name] = NewEmulator(fn, rie, bin, cfg.Env, cfg.LogOut, log)
		log.Info("function", "function", fn.Name, "routes", len(fn.Routes), "timeout", fn.Timeout.String())
	}
	for _, e := range g.emulators {
		e.Start()
	}
	return g, nil
}

// Stop stops every emulator, and with them the functions.
func (g *Gateway) Stop() {
	var wg sync.WaitGroup
	for _, e := range g.emulators {
		wg.Go(e.Stop)
	}
	wg.Wait()
}

// ServeHTTP routes a request: CORS preflights first (as API Gateway answers them, before any
// route), then template routes, /local/echo, /local/outbox, and static files (/vendor/… from the vendor
// folder, /local/rp/… from the example relying party's, everything else from the demo folder);
// responses to an allowed origin carry the CORS headers.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.cors.Preflight(w, r) {
		return
	}
	g.cors.Decorate(w, r)
	if route, params, ok := g.router.Match(r.Method, r.URL.EscapedPath()); ok {
		g.proxy(w, r, route, params)
		return
	}
	if r.URL.Path == echoPath && (r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodPost) {
		g.echo(w, r)
		return
	}
	if r.URL.Path == outboxPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		g.outbox(w, r)
		return
	}
	if g.static(w, r) {
		return
	}
	message(w, http.StatusNotFound, "Not Found")
}

// proxy invokes the route's function with a payload 2.0 event and writes its response.
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request, route Route, params map[string]string) {
	info := newRequestInfo(r, route.Key())
	w.Header().Set("Apigw-Requestid", info.id)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		message(w, http.StatusBadRequest, "Bad Request")
		return
	}
	event, err := json.Marshal(proxyEvent(r, info, route, params, body))
	if err != nil {
		g.log.Error("encode event", "err", err)
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	payload, err := g.invoke(r.Context(), route.Function, event)
	if err != nil {
		g.invokeFailed(w, route.Function, err)
		return
	}
	resp, err := translateResponse(payload)
	if err != nil {
		g.log.Error("bad function response", "function", route.Function, "err", err)
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	for k, vs := range resp.headers {
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header()["Content-Type"] = nil // no sniffing: API Gateway adds none either
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.body)
	}
}

// errNotBuilt means the function has no binary.
var errNotBuilt = errors.New("function is not built (run make build ARCH=$(go env GOARCH))")

func (g *Gateway) invoke(ctx context.Context, function string, event []byte) ([]byte, error) {
	e := g.emulators[function]
	if e == nil {
		return nil, errNotBuilt
	}
	return e.Invoke(ctx, event)
}

// invokeFailed answers a failed invocation as API Gateway does: 504 for a timeout, 502 when the
// function crashed or failed its init, 500 for a function error.
func (g *Gateway) invokeFailed(w http.ResponseWriter, function string, err error) {
	var fe *FunctionError
	switch {
	case errors.Is(err, ErrFunctionTimeout):
		g.log.Error("function timed out", "function", function, "err", err)
		message(w, http.StatusGatewayTimeout, "Gateway Timeout")
	case errors.Is(err, ErrFunctionCrashed):
		g.log.Error("function failed", "function", function, "err", err)
		message(w, http.StatusBadGateway, "Bad Gateway")
	case errors.As(err, &fe):
		g.log.Error("function returned an error", "function", function,
			"error_type", fe.Type, "error_message", fe.Message)
		message(w, http.StatusInternalServerError, "Internal Server Error")
	case errors.Is(err, context.Canceled):
		// The client went away while queued; nobody reads this answer.
	default:
		g.log.Error("invoke failed", "function", function, "err", err)
		message(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// static serves a file from the vendor, example relying party or demo folder; false when
// there is none for the path.
func (g *Gateway) static(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	dir, rel := g.demoDir, r.URL.Path
	if rest, ok := strings.CutPrefix(rel, vendorPrefix); ok {
		dir, rel = g.vendorDir, rest
	} else if rel == strings.TrimSuffix(rpPrefix, "/") && g.rpDir != "" {
		http.Redirect(w, r, rpPrefix, http.StatusMovedPermanently)
		return true
	} else if rest, ok := strings.CutPrefix(rel, rpPrefix); ok {
		dir, rel = g.rpDir, rest
		if r.URL.Path == rpCallback {
			rel = "index.html"
		}
	}
	if dir == "" {
		return false
	}
	name := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+rel)))
	fi, err := os.Stat(name)
	if err == nil && fi.IsDir() {
		name = filepath.Join(name, "index.html")
		fi, err = os.Stat(name)
	}
	if err != nil || fi.IsDir() {
		return false
	}
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	return true
}

// message writes API Gateway's own JSON error body.
func message(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(body)
}
