// Package stacktest runs the real function binaries behind two local gateways (two "nodes")
// against the emulators that `make test` starts, and checks what only the whole stack can
// show: tokens verified with an independent JOSE library against the served JWKS, refresh
// concurrency and replay over HTTP, a logout seen at once by the other node, the authorizer
// in front of /local/echo, a hung KMS answered by /health/ready in seconds, and every
// function answering within seconds while its own DynamoDB Local or moto is stopped.
package stacktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/local/testenv"
)

// root is the repository root, two levels up from this package.
var root, _ = filepath.Abs(filepath.Join("..", ".."))

// stack is a bootstrapped table, keys and secret with built binaries.
type stack struct {
	dir string
	env []string // LATCHKEY_* and AWS_* for the functions
	// machine is the current secret of each machine client (stackMachineClients) and each
	// confidential OpenID client (stackOIDCClients) the bootstrap made.
	machine map[string]string
}

// stackMachineClients are the machine clients of the stack: local-ci as make dev declares it,
// one for the rotation test with two scopes, and a disabled one.
const stackMachineClients = `[{"id":"local-ci","scopes":["echo:read"]},{"id":"rotating","scopes":["echo:read","echo:write"]},{"id":"stopped","scopes":["echo:read"],"enabled":false}]`

// stackOIDCClients are the OpenID clients of the stack: local-rp as make dev declares it (public),
// and stack-web, a confidential client whose secret the bootstrap makes (in s.machine). A
// gateway started with LATCHKEY_OIDC_CLIENTS=… among its extra variables gives its functions
// its own clients instead; a confidential one of those needs a secret written into
// LATCHKEY_MACHINE_SECRET_ID's layout, as TestMachineSecretRotation writes one.
const stackOIDCClients = `[{"id":"local-rp","name":"Latchkey example app",` +
	`"redirectUris":["http://localhost:3000/local/rp/callback","http://localhost:5173/callback"],` +
	`"postLogoutRedirectUris":["http://localhost:3000/local/rp/","http://localhost:5173/"],` +
	`"scopes":["openid","email","profile","offline_access"]},` +
	`{"id":"stack-web","name":"Stack test web app","confidential":true,"redirectUris":["https://web.example.com/callback"],` +
	`"postLogoutRedirectUris":["https://web.example.com/"],"scopes":["openid","email","profile","offline_access"]}]`

var (
	shared     *stack
	sharedErr  error
	sharedOnce sync.Once
)

// build compiles one command into dir.
func build(pkg, out string, lambda bool) error {
	args := []string{"build", "-trimpath", "-o", out}
	if lambda {
		args = append(args, "-tags", "lambda.norpc", "-ldflags", "-s -w")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// newStack builds every function, the gateway and the bootstrap, and creates a fresh table,
// key and secret in the emulators. It is shared by the tests of this package.
func newStack(t *testing.T) *stack {
	t.Helper()
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_DYNAMODB")
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_KMS")
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_SESV2")
	sharedOnce.Do(func() { shared, sharedErr = bootstrap() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func bootstrap() (*stack, error) {
	dir, err := os.MkdirTemp("", "latchkey-stack-")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "internal" {
			continue
		}
		if err := build("./functions/"+e.Name(), filepath.Join(dir, "linux_"+runtime.GOARCH, e.Name(), "bootstrap"), true); err != nil {
			return nil, err
		}
	}
	for _, cmd := range []string{"gateway", "bootstrap"} {
		if err := build("./local/"+cmd, filepath.Join(dir, cmd), false); err != nil {
			return nil, err
		}
	}
	if err := build("./functions/internal/devtoken", filepath.Join(dir, "devtoken"), false); err != nil {
		return nil, err
	}
	if err := vendorDemo(filepath.Join(dir, "vendor")); err != nil {
		return nil, err
	}
	return provision(dir, nil)
}

// stackDefaults are set for every gateway the tests start. The per-address limits are
// lifted: all the package's tests call from 127.0.0.1 into one table, so the deployed budgets
// would be shared by all of them, and a slow run would see 429s that depend on how the tests
// fell into the windows. The per-account limits, which the safety tests are about, stay as
// deployed; the per-address limits have their own tests beside the functions. Accounts
// without email are allowed, so that tests about other things sign up without an email
// flow; the email tests run with the deployed default (emailDefaults).
var stackDefaults = []string{
	"LATCHKEY_LIMIT_PASSKEY_BEGIN_IP=1000/1m", "LATCHKEY_LIMIT_PASSKEY_FINISH_IP=1000/1m", "LATCHKEY_LIMIT_TOKEN_IP=1000/1m",
	"LATCHKEY_LIMIT_EMAIL_BEGIN_IP=1000/1m", "LATCHKEY_LIMIT_EMAIL_VERIFY_IP=1000/1m", "LATCHKEY_LIMIT_RECOVERY_CODE_IP=1000/1m",
	"LATCHKEY_EMAIL_REQUIRED=false",
}

// provision creates a fresh table, keys and secrets with the bootstrap built in dir, in the
// emulators the test environment names or, with awsEnv, in those awsEnv names; the stack it
// returns runs its functions against the same emulators.
func provision(dir string, awsEnv []string) (*stack, error) {
	name := testenv.Name("stack")
	machineFile := filepath.Join(dir, name+".machine")
	cmd := exec.Command(filepath.Join(dir, "bootstrap"), "-table", name, "-key-alias", "alias/"+name, "-secret", name, "-issuer", "http://127.0.0.1",
		"-machine-secret", name+"-machines", "-machine-clients", stackMachineClients, "-oidc-clients", stackOIDCClients,
		"-machine-secrets-file", machineFile)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), awsEnv...)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %v %s", err, stderrOf(err))
	}
	s := &stack{dir: dir, env: append(append([]string(nil), awsEnv...), stackDefaults...), machine: map[string]string{}}
	secrets, err := os.ReadFile(machineFile)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(secrets)), "\n") {
		if id, secret, ok := strings.Cut(line, " "); ok {
			s.machine[id] = secret
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			s.env = append(s.env, k+"="+strings.Trim(v, "'"))
		}
	}
	return s, nil
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// gateway is one running local gateway.
type gateway struct {
	url string
	cmd *exec.Cmd
	log *lockedWriter
}

// startGateway runs a gateway on a free port with extra environment overrides, and stops it
// when the test ends.
func (s *stack) startGateway(t *testing.T, extra ...string) *gateway {
	t.Helper()
	return s.startGatewayAt(t, freeAddr(t), extra...)
}

// freeAddr returns a 127.0.0.1 address whose port is free, for a test that must know a
// gateway's address before it starts (to configure the WebAuthn origin, say).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// keepLogOnFailure writes the gateway's log to a file when t fails and prints its last lines
// with the file's name: the whole log would bury the test's own failure message.
func (g *gateway) keepLogOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		text := g.log.String()
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		tail := strings.Join(lines[max(0, len(lines)-6):], "\n")
		f, err := os.CreateTemp("", "latchkey-gateway-*.log")
		if err == nil {
			_, err = f.WriteString(text)
			f.Close()
		}
		if err != nil {
			t.Logf("gateway log (could not keep it in a file: %v):\n%s", err, text)
			return
		}
		t.Logf("gateway log in %s, ending:\n%s", f.Name(), tail)
	})
}

// startGatewayAt runs a gateway on addr (see freeAddr) with extra environment overrides, and
// stops it when the test ends. It serves the demo page with its vendored bundle, and the
// example relying party, too.
func (s *stack) startGatewayAt(t *testing.T, addr string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{url: "http://" + addr, log: &lockedWriter{w: &bytes.Buffer{}}}
	g.cmd = exec.Command(filepath.Join(s.dir, "gateway"), "-addr", addr, "-template", "template.yaml", "-build-dir", s.dir,
		"-demo", "local/demo", "-vendor", filepath.Join(s.dir, "vendor"), "-rp", "local/rp", "-rie", testenv.RIE(t, root))
	g.cmd.Dir = root
	g.cmd.Env = append(append(os.Environ(), s.env...), extra...)
	g.cmd.Stdout, g.cmd.Stderr = io.Discard, g.log
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = g.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = g.cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(g.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway on %s did not answer /health within 30 s; log:\n%s", addr, g.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// String is what has been written so far.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// devToken runs the dev-token command against the stack.
func (s *stack) devToken(t *testing.T) tokens {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.dir, "devtoken"))
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("devtoken: %v %s", err, stderrOf(err))
	}
	var tk tokens
	if err := json.Unmarshal(out, &tk); err != nil || tk.AccessToken == "" || tk.RefreshToken == "" || tk.UserID == "" || tk.ExpiresIn != 600 {
		t.Fatalf("devtoken printed %s (%v)", out, err)
	}
	return tk
}

type tokens struct {
	UserID       string `json:"user_id"`
	SessionID    string `json:"session_id"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// send sends one request with an optional content type and bearer token, bounded to 20 s,
// and returns status, headers and body. Every helper of the package that talks HTTP uses it.
func send(t *testing.T, method, u, bearer, ctype string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// call sends one request, a form body when form is not "", and returns status, headers and
// body.
func call(t *testing.T, method, u, bearer, form string) (int, http.Header, []byte) {
	t.Helper()
	if form == "" {
		return send(t, method, u, bearer, "", nil)
	}
	return send(t, method, u, bearer, "application/x-www-form-urlencoded", strings.NewReader(form))
}

func refreshForm(rt string) string {
	return "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt)
}

// TestMain removes the shared stack's build folder once every test of the package has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
