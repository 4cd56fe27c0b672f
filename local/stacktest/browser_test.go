package stacktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/local/testenv"
)

// chromiumPath is where Debian's chromium package puts the browser; make test installs it.
const chromiumPath = "/usr/bin/chromium"

// bundlePath is the @simplewebauthn/browser bundle that local/install.sh installs at the
// version pinned in local/versions.env.
var bundlePath = filepath.Join(root, "local", ".tools", "node", "node_modules", "@simplewebauthn", "browser", "dist", "bundle", "index.umd.min.js")

// vendorDemo copies the bundle into dir, the gateway's -vendor folder, as make dev does. A
// missing bundle is not an error here: only the browser tests need it, and they say how to
// get it.
func vendorDemo(dir string) error {
	b, err := os.ReadFile(bundlePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "simplewebauthn-browser.umd.min.js"), b, 0o644)
}

// checkBundle fails the test unless the vendored bundle is the version versions.env pins.
func checkBundle(t *testing.T) {
	t.Helper()
	env, err := os.ReadFile(filepath.Join(root, "local", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	var want string
	sc := bufio.NewScanner(bytes.NewReader(env))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "SIMPLEWEBAUTHN_BROWSER_VERSION="); ok {
			want = v
		}
	}
	b, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatalf("the demo page's @simplewebauthn/browser bundle is missing (%v): run `make test`, whose local/install.sh installs it", err)
	}
	if header := "[@simplewebauthn/browser@" + want + "]"; want == "" || !bytes.Contains(b[:min(len(b), 200)], []byte(header)) {
		t.Fatalf("%s is not @simplewebauthn/browser %q as versions.env pins: run `make test`, whose local/install.sh installs it", bundlePath, want)
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

	mu      sync.Mutex
	bearer  string   // the last access token the page sent
	console []string // the page's console output and exceptions
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
	b := &browser{t: t, ctx: ctx, api: apiURL}
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
			if auth, ok := ev.Request.Headers["Authorization"].(string); ok {
				b.bearer = strings.TrimPrefix(auth, "Bearer ")
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

// waitFor polls a JavaScript condition until it is true; it gives up early when the page
// shows an error, unless the condition is about that error.
func (b *browser) waitFor(what, condition string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		var shown string
		b.run("evaluate "+what, chromedp.Evaluate(`!!(`+condition+`)`, &ok),
			chromedp.Evaluate(`document.querySelector('#error').hidden ? '' : document.querySelector('#error').textContent`, &shown))
		if ok {
			return
		}
		if shown != "" && !strings.Contains(condition, "#error") {
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
		error: document.querySelector('#error').textContent, message: document.querySelector('#message').textContent,
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
	status, _, body := call(b.t, "GET", b.api+"/v1/me/passkeys", bearer, "")
	if status != 200 {
		return status, nil
	}
	var out struct {
		Passkeys []map[string]any `json:"passkeys"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		b.t.Fatalf("GET /v1/me/passkeys: %v: %s", err, body)
	}
	return status, out.Passkeys
}

// recordWebAuthnCalls is run in the page before its own scripts. It records the options of
// every navigator.credentials.get call, so the test sees the conditional (autofill) one. And
// it stands in for the person at the autofill list: Chromium's virtual authenticator answers a
// conditional request at once, as if the person picked the passkey the moment the page asked,
// so while window.__holdConditional is true a conditional request stays pending until the
// page aborts it, as it does in a real browser until someone picks from the list.
const recordWebAuthnCalls = `(() => {
  const calls = [];
  window.__credentialsGet = calls;
  window.__holdConditional = true;
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
    return get(options);
  };
})()`

// TestBrowserPasskeys drives the demo page in headless Chromium with a virtual authenticator
// against the real functions: sign up, sign out (signed in again through autofill), sign out,
// sign in with the button, add a second passkey, rename it, delete it, fail to delete the last
// one (409), reload (tokens refreshed), sign out. It checks the
// page and, with the page's own access token, the API. The origin is http://localhost:<port>
// with RP ID localhost, as a browser requires for WebAuthn on plain HTTP.
func TestBrowserPasskeys(t *testing.T) {
	needChromium(t)
	checkBundle(t)
	s := newStack(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	origin := "http://localhost:" + port
	g := s.startGatewayAt(t, addr, "LATCHKEY_RP_ID=localhost", "LATCHKEY_RP_ORIGINS="+origin)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.log)
		}
	})
	b := newBrowser(t, g.url)

	var first webauthn.AuthenticatorID
	b.run("enable WebAuthn and record credentials.get", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
			return err
		}
		_, err := page.AddScriptToEvaluateOnNewDocument(recordWebAuthnCalls).Do(ctx)
		return err
	}))
	first = b.authenticator(false)

	// The signed-out page starts a conditional (autofill) sign-in in the background.
	b.run("open the demo page", chromedp.Navigate(origin+"/"))
	b.waitFor("the signed-out page", `document.body.dataset.state === 'signed-out'`)
	b.waitFor("the autofill sign-in to wait", `document.body.dataset.autofill === 'waiting'`)
	var conditional bool
	b.eval(`window.__credentialsGet.some((c) => c.mediation === 'conditional' && c.allow === 0)`, &conditional)
	if !conditional {
		var calls string
		b.eval(`JSON.stringify(window.__credentialsGet)`, &calls)
		t.Fatalf("the page did not call credentials.get with mediation conditional: %s", calls)
	}

	// Sign up.
	email := testenv.Name("browser") + "@Example.com"
	b.fill("#signup-email", email)
	b.fill("#signup-name", "Browser Test")
	b.click("#signup-button")
	b.waitFor("signed in after sign-up", `document.body.dataset.signedInWith === 'signup' && document.querySelectorAll('#passkey-list .passkey').length === 1`)
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

	// Add a second passkey, on a second (synced) authenticator: the first one holds a
	// credential the server excludes, so it is removed from the browser.
	b.run("remove the first authenticator", chromedp.ActionFunc(func(ctx context.Context) error {
		return webauthn.RemoveVirtualAuthenticator(first).Do(ctx)
	}))
	second := b.authenticator(true)
	b.click("#add-passkey-button")
	b.waitFor("two passkeys listed", `document.querySelectorAll('#passkey-list .passkey').length === 2`)
	status, list = b.myPasskeys(b.lastBearer())
	if status != 200 || len(list) != 2 {
		t.Fatalf("after adding GET /v1/me/passkeys: %d, %d passkeys", status, len(list))
	}
	var secondID string
	for _, p := range list {
		if id, _ := p["id"].(string); id != firstID {
			secondID = id
			if p["backedUp"] != true {
				t.Errorf("the passkey of the synced authenticator: backedUp %v", p["backedUp"])
			}
		}
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

	// Delete it. After listing, the page tells the browser which credentials the server still
	// accepts (Signal API), and Chromium drops the deleted one from the authenticator.
	b.click(item + " .delete")
	b.click(item + " .confirm")
	b.waitFor("one passkey listed", `document.querySelectorAll('#passkey-list .passkey').length === 1`)
	if status, list = b.myPasskeys(b.lastBearer()); status != 200 || len(list) != 1 || list[0]["id"] != firstID {
		t.Fatalf("after deleting GET /v1/me/passkeys: %d %v", status, list)
	}
	var signalled bool
	b.eval(`typeof PublicKeyCredential.signalAllAcceptedCredentials === 'function'`, &signalled)
	if signalled {
		b.waitFor("the Signal API call", `document.body.dataset.signalAccepted === '1'`)
		if n := len(b.credentials(second)); n != 0 {
			t.Errorf("after signalAllAcceptedCredentials the second authenticator still holds %d credentials", n)
		}
		t.Log("signalAllAcceptedCredentials removed the deleted passkey from the virtual authenticator")
	} else {
		t.Log("this Chromium has no PublicKeyCredential.signalAllAcceptedCredentials; the Signal API is not checked")
	}

	// The last passkey cannot be deleted: the page shows the 409's detail.
	last := fmt.Sprintf(`#passkey-list .passkey[data-id=%q]`, firstID)
	b.click(last + " .delete")
	b.click(last + " .confirm")
	b.waitFor("the 409 shown", `!document.querySelector('#error').hidden && document.querySelector('#error').dataset.status === '409'`)
	var shown string
	b.eval(`document.querySelector('#error').textContent`, &shown)
	if shown == "" || strings.Contains(shown, "409") {
		t.Errorf("the 409 is shown as %q, not as the problem's detail", shown)
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
