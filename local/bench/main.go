// Command bench measures what Latchkey's requests cost in CPU (make bench, docs/performance.md).
// Against the local stack's emulators it starts a gateway of its own, which runs every
// function's real bootstrap binary under aws-lambda-rie, sends n requests of each kind and
// reads each function process's CPU time (user + system) from /proc before and after, divided
// by n; beside it, in the same run, the CPU of a bare P-256 ECDSA verification, so that what
// the other tenants of the machine do cancels out of the ratios. It also cold-starts each
// binary against a Runtime API of its own (and a hello-world Lambda for comparison), and
// prints the Go benchmarks and binary sizes local/bench.sh collected. The last line is
//
//	bench: authorizer=<ratio>x refresh=<ratio>x login=<ratio>x
//
// for diffing runs. Run it through local/bench.sh, which provides the emulators, the table,
// key and secret (their variables in the environment) and the binaries.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/core/passkey/passkeytest"
)

// origin is the WebAuthn origin of the bench's passkey (bootstrap's default RP origin).
const origin = "http://localhost:3000"

// lifted are the per-address and per-session limits the bench runs with: every request comes
// from 127.0.0.1 and the refreshes from one session, far over the deployed budgets. Accounts
// without email are allowed, so the bench signs up without an email flow.
var lifted = []string{
	"LATCHKEY_LIMIT_PASSKEY_BEGIN_IP=100000/1m", "LATCHKEY_LIMIT_PASSKEY_FINISH_IP=100000/1m",
	"LATCHKEY_LIMIT_PASSKEY_BEGIN_ACCOUNT=100000/1m", "LATCHKEY_LIMIT_PASSKEY_FINISH_ACCOUNT=100000/1m",
	"LATCHKEY_LIMIT_TOKEN_IP=100000/1m", "LATCHKEY_LIMIT_TOKEN_SESSION=100000/1m",
	"LATCHKEY_EMAIL_REQUIRED=false",
}

type bench struct {
	url     string
	client  *http.Client
	auth    *passkeytest.Authenticator
	account struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 300, "requests of each kind")
	buildDir := flag.String("build-dir", "", "folder holding linux_<arch>/<function>/bootstrap, as the gateway wants it")
	gatewayBin := flag.String("gateway", "", "the gateway binary")
	rie := flag.String("rie", "aws-lambda-rie", "aws-lambda-rie")
	hello := flag.String("hello", "", "a hello-world Lambda binary, the cold-start baseline")
	goBench := flag.String("gobench", "", "go test -bench output to summarize")
	sizes := flag.String("sizes", "", "folder holding <function>/bootstrap as deployed (linux/arm64, stripped)")
	profileDir := flag.String("profile", "", "also record a perf profile of each function under load into this folder")
	flag.Parse()
	if *buildDir == "" || *gatewayBin == "" {
		return errors.New("-build-dir and -gateway are required (run local/bench.sh)")
	}
	// The gateway runs each emulator in its function's folder: paths must not be relative.
	for _, p := range []*string{buildDir, gatewayBin, rie, hello} {
		if *p != "" && strings.ContainsRune(*p, os.PathSeparator) {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
	binDir := filepath.Join(*buildDir, "linux_"+runtime.GOARCH)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	stopGateway, err := startGateway(*gatewayBin, addr, *buildDir, *rie)
	if err != nil {
		return err
	}
	defer stopGateway()
	b := &bench{url: "http://" + addr, client: &http.Client{Timeout: 20 * time.Second}, auth: passkeytest.NewAuthenticator(origin)}
	if err := b.signUp(); err != nil {
		return err
	}

	verify := newVerifyBaseline()
	base0 := verify.measure(2000)
	rows := make([]row, 0, len(kinds))
	for _, k := range kinds {
		r, err := b.measure(k, *n, binDir)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		rows = append(rows, r)
	}
	base1 := verify.measure(2000)
	baseline := (base0 + base1) / 2

	var profiles []string
	if *profileDir != "" {
		if profiles, err = b.profile(*profileDir, *n, binDir); err != nil {
			return err
		}
	}

	colds, err := coldStarts(binDir, *hello, b)
	if err != nil {
		return err
	}

	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "\nbare P-256 ECDSA verify (crypto/ecdsa, SHA-256 digest): %s CPU (%s before, %s after the requests)\n",
		us(baseline), us(base0), us(base1))
	fmt.Fprintf(w, "\n%-11s %-11s %5s %12s %12s %9s %7s %11s\n", "kind", "function", "n", "cpu/req", "ticks/req", "wall/req", "ratio", "target")
	for _, r := range rows {
		target := "-"
		ratio := float64(r.cpu) / float64(baseline)
		if r.kind.target > 0 {
			verdict := "met"
			if ratio > r.kind.target {
				verdict = "MISSED"
			}
			target = fmt.Sprintf("%.0fx %s", r.kind.target, verdict)
		}
		fmt.Fprintf(w, "%-11s %-11s %5d %12s %12s %9s %6.1fx %11s\n", r.kind.name, r.kind.function, r.n, us(r.cpu), us(r.ticks), ms(r.wall), ratio, target)
	}
	if len(colds) > 0 {
		fmt.Fprintf(w, "\ncold start (own Runtime API; init = exec to the first event request, first = the first invocation;\n"+
			"warm = CPU per invocation of %d more of the same event after %d warm-ups, back to back, nothing but the function timed;\n"+
			"paused = the same for %d more, each after %s idle; each column the median of %d starts)\n", warmRuns, warmups, pausedRuns, eventPause, coldRounds)
		fmt.Fprintf(w, "%-11s %10s %10s %10s %10s %11s %11s %11s %7s %11s %7s\n", "binary", "init wall", "init cpu", "over hello", "pkg init", "first wall", "first cpu", "warm cpu", "ratio", "paused cpu", "ratio")
		var helloCPU time.Duration
		for _, c := range colds {
			if c.name == "hello" {
				helloCPU = c.initCPU
			}
		}
		for _, c := range colds {
			over := "-"
			if helloCPU > 0 && c.name != "hello" {
				over = fmt.Sprintf("%+.2f ms", float64(c.initCPU-helloCPU)/float64(time.Millisecond))
			}
			fmt.Fprintf(w, "%-11s %10s %10s %10s %10s %11s %11s %11s %6.1fx %11s %6.1fx\n", c.name, ms(c.initWall), ms(c.initCPU), over, ms(c.pkgInit), ms(c.firstWall), ms(c.firstCPU),
				us(c.warmCPU), float64(c.warmCPU)/float64(baseline), us(c.pausedCPU), float64(c.pausedCPU)/float64(baseline))
		}
		fmt.Fprintln(w, "(init cpu includes the CPU of the init's network calls, not their waiting; pkg init is the packages' own initialization, GODEBUG=inittrace=1, a run apart)")
	}
	if *goBench != "" {
		if err := printGoBench(w, *goBench); err != nil {
			return err
		}
	}
	if *sizes != "" {
		if err := printSizes(w, *sizes); err != nil {
			return err
		}
	}
	for _, p := range profiles {
		fmt.Fprintln(w, p)
	}
	// The last line, for diffing runs.
	fmt.Fprintf(w, "\nbench:")
	for _, r := range rows {
		if r.kind.target > 0 {
			fmt.Fprintf(w, " %s=%.1fx", r.kind.name, float64(r.cpu)/float64(baseline))
		}
	}
	fmt.Fprintln(w)
	return nil
}

// row is one kind's measurement.
type row struct {
	kind       kind
	n          int
	cpu, ticks time.Duration // per request
	wall       time.Duration // per request, as the client saw it (through the gateway)
}

// measure warms the kind's function up (so its cold start is not counted), prepares n
// requests, then sends them one after the other and divides the CPU the function's process
// spent by n.
func (b *bench) measure(k kind, n int, binDir string) (row, error) {
	warm, err := k.prepare(b, 5)
	if err != nil {
		return row{}, err
	}
	for i := range 5 {
		if err := warm(i); err != nil {
			return row{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	exe := filepath.Join(binDir, k.function, "bootstrap")
	pid, err := findProcess(exe)
	if err != nil || pid == 0 {
		return row{}, fmt.Errorf("no process runs %s after the warm-up (%v)", exe, err)
	}
	send, err := k.prepare(b, n)
	if err != nil {
		return row{}, err
	}
	before, err := readCPU(pid)
	if err != nil {
		return row{}, err
	}
	began := time.Now()
	for i := range n {
		if err := send(i); err != nil {
			return row{}, fmt.Errorf("request %d: %w", i, err)
		}
	}
	wall := time.Since(began)
	after, err := readCPU(pid)
	if err != nil {
		return row{}, fmt.Errorf("the function's process ended during the run: %w", err)
	}
	if now, _ := findProcess(exe); now != pid {
		return row{}, errors.New("the function's process was restarted during the run")
	}
	d := after.sub(before)
	return row{kind: k, n: n, cpu: d.exec / time.Duration(n), ticks: d.ticks / time.Duration(n), wall: wall / time.Duration(n)}, nil
}

// signUp creates the bench's account with a passkey and keeps its tokens.
func (b *bench) signUp() error {
	var begin map[string]json.RawMessage
	if err := b.expect("POST", "/v1/passkeys/register/begin", "", "application/json", []byte(`{"displayName":"Bench"}`), 200, &begin); err != nil {
		return err
	}
	cred, _, err := b.auth.Create(begin["publicKey"], passkeytest.Tweaks{})
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"challengeId": begin["challengeId"], "credential": json.RawMessage(cred)})
	return b.expect("POST", "/v1/passkeys/register/finish", "", "application/json", body, 201, &b.account)
}

// expect sends one request and fails unless it answers status; out, when not nil, gets the
// JSON body.
func (b *bench) expect(method, path, bearer, ctype string, body []byte, status int, out any) error {
	req, err := http.NewRequest(method, b.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != status {
		return fmt.Errorf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, status)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// startGateway runs the gateway on addr with the lifted limits until the returned stop.
func startGateway(bin, addr, buildDir, rie string) (func(), error) {
	cmd := exec.Command(bin, "-addr", addr, "-template", "template.yaml", "-build-dir", buildDir, "-demo", "local/demo", "-rie", rie)
	cmd.Env = append(os.Environ(), lifted...)
	log, err := os.CreateTemp("", "latchkey-bench-gateway-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	keepLog := false
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		log.Close()
		if !keepLog {
			os.Remove(log.Name())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop, nil
			}
		}
		if time.Now().After(deadline) {
			keepLog = true
			stop()
			return nil, fmt.Errorf("the gateway did not answer /health within 30 s (log %s)", log.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// coldStarts cold-starts every function binary, and hello when given, once each.
type cold struct {
	name string
	coldStart
}

// coldRounds is how many times each binary is cold-started; the table shows the median of
// each column. One start is one sample of a noisy machine; the binaries take turns in every
// round, so a slow minute slows them all alike.
const coldRounds = 5

func coldStarts(binDir, hello string, b *bench) ([]cold, error) {
	env := environWithout("AWS_LAMBDA_RUNTIME_API")
	for _, kv := range lifted {
		env = append(env, kv)
	}
	type binary struct {
		name, path string
		env        []string
		event      []byte
	}
	var bins []binary
	if hello != "" {
		// The hello-world sets one scheduler thread at the start of its main, as every function
		// does (local/bench/hello): with Go's default of two it would pay the Ps' spinning that
		// the functions do not, and the floor would look higher than it is.
		bins = append(bins, binary{"hello", hello, env, []byte(`{}`)})
	}
	dirs, err := os.ReadDir(binDir)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		bin := filepath.Join(binDir, d.Name(), "bootstrap")
		if _, err := os.Stat(bin); err == nil {
			bins = append(bins, binary{d.Name(), bin, env, firstEvent(d.Name(), b.account.AccessToken)})
		}
	}
	samples := make([][]coldStart, len(bins))
	for range coldRounds {
		for i, bin := range bins {
			c, err := measureColdStart(bin.path, bin.env, bin.event)
			if err != nil {
				return nil, err
			}
			if c.pkgInit, err = packageInit(bin.path, bin.env); err != nil {
				return nil, err
			}
			samples[i] = append(samples[i], c)
		}
	}
	out := make([]cold, len(bins))
	for i, bin := range bins {
		out[i] = cold{bin.name, medianColdStart(samples[i])}
	}
	return out, nil
}

// medianColdStart is the median of each field of cs, taken apart.
func medianColdStart(cs []coldStart) coldStart {
	med := func(field func(coldStart) time.Duration) time.Duration {
		v := make([]time.Duration, len(cs))
		for i, c := range cs {
			v[i] = field(c)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return coldStart{
		initWall:  med(func(c coldStart) time.Duration { return c.initWall }),
		initCPU:   med(func(c coldStart) time.Duration { return c.initCPU }),
		firstWall: med(func(c coldStart) time.Duration { return c.firstWall }),
		firstCPU:  med(func(c coldStart) time.Duration { return c.firstCPU }),
		warmCPU:   med(func(c coldStart) time.Duration { return c.warmCPU }),
		pausedCPU: med(func(c coldStart) time.Duration { return c.pausedCPU }),
		pkgInit:   med(func(c coldStart) time.Duration { return c.pkgInit }),
	}
}

// firstEvent is the first event each function's cold start serves: a request its warm
// function answers with the store (and, for the authorizer, a decision).
func firstEvent(function, token string) []byte {
	if function == "authorizer" {
		ev, _ := json.Marshal(map[string]any{"version": "2.0", "type": "REQUEST", "routeArn": "arn:aws:execute-api:us-east-1:000000000000:api/$default/GET/echo",
			"headers": map[string]string{"authorization": "Bearer " + token}})
		return ev
	}
	// Requests that cost the same however often they are repeated (the bench's account gains a
	// session per sign-in, so its session list is no such request).
	route := map[string][2]string{
		"sessions":  {"GET", "/v1/me/api-keys"},
		"passkeys":  {"POST", "/v1/passkeys/login/begin"},
		"wellknown": {"GET", "/.well-known/jwks.json"},
		"oidc":      {"GET", "/oauth2/userinfo"},
	}[function]
	if route[0] == "" {
		route = [2]string{"GET", "/health"} // answered without the store, or a 404
	}
	headers := map[string]string{"authorization": "Bearer " + token, "content-type": "application/json", "user-agent": "bench"}
	if function == "passkeys" {
		delete(headers, "authorization") // the discoverable sign-in's begin, not a re-authentication
	}
	ev, _ := json.Marshal(map[string]any{
		"version": "2.0", "routeKey": route[0] + " " + route[1], "rawPath": route[1],
		"headers": headers,
		"body":    "{}",
		"requestContext": map[string]any{
			"http":      map[string]string{"method": route[0], "path": route[1], "sourceIp": "127.0.0.1", "protocol": "HTTP/1.1", "userAgent": "bench"},
			"requestId": "bench", "stage": "$default", "timeEpoch": time.Now().UnixMilli(),
		},
	})
	return ev
}

// printGoBench prints the lines of a go test -bench output that are results.
func printGoBench(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\ngo test -bench (stubbed stores: coretest fakes)\n")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") {
			fmt.Fprintln(w, "  "+line)
		}
	}
	return nil
}

// printSizes prints the size of every <function>/bootstrap under dir.
func printSizes(w io.Writer, dir string) error {
	bins, err := filepath.Glob(filepath.Join(dir, "*", "bootstrap"))
	if err != nil {
		return err
	}
	sort.Strings(bins)
	fmt.Fprintf(w, "\nbinary sizes (%s, stripped, as deployed)\n", filepath.Base(dir))
	for _, bin := range bins {
		st, err := os.Stat(bin)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-11s %6.2f MB\n", filepath.Base(filepath.Dir(bin)), float64(st.Size())/(1<<20))
	}
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
