package page

import (
	"html"
	"os"
	"regexp"
	"strings"
	"testing"
)

// hostile is a sign-in whose every value tries to break out of where it is put: out of an
// attribute, into a tag, into another placeholder.
var hostile = SignIn{
	RequestID:  `r1" onload="alert(1)`,
	ClientName: `</title><script>alert(1)</script>{{hint}}`,
	AppName:    `<img src=x onerror=alert(1)> & 'co'`,
	LoginHint:  `a@b.example" autofocus onfocus="alert(1)`,
}

var (
	tagRE  = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=>/"']+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*/?>`)
	attrRE = regexp.MustCompile(`([^\s=>/"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?`)
	// markupRE is what may stand outside tags: the doctype and comments.
	markupRE = regexp.MustCompile(`(?s)<!doctype html>|<!--.*?-->`)
)

type tag struct {
	closing bool
	name    string
	attrs   map[string]string // names lowercased, values unescaped
}

// tags splits a page into its tags and fails the test when anything else in it holds a "<":
// text with an unescaped angle bracket, which a browser could read as markup.
func tags(t *testing.T, page string) []tag {
	t.Helper()
	var out []tag
	for _, m := range tagRE.FindAllStringSubmatch(page, -1) {
		tg := tag{closing: m[1] == "/", name: strings.ToLower(m[2]), attrs: map[string]string{}}
		for _, a := range attrRE.FindAllStringSubmatch(m[3], -1) {
			name := strings.ToLower(a[1])
			if _, twice := tg.attrs[name]; twice {
				t.Errorf("<%s> has the attribute %s twice: %s", tg.name, name, m[0])
			}
			tg.attrs[name] = html.UnescapeString(strings.Trim(a[2], `"'`))
		}
		out = append(out, tg)
	}
	rest := markupRE.ReplaceAllString(tagRE.ReplaceAllString(page, ""), "")
	if strings.Contains(rest, "<") {
		t.Errorf("the page holds a '<' outside any tag: %q", rest)
	}
	return out
}

// checkNothingInline fails unless every script and style sheet of the page is a file of the
// issuer's: no inline script or style element, no style or event handler attribute, no
// javascript: URL. The CSP (script-src 'self', style-src 'self') would refuse them, so the page
// must not need them.
func checkNothingInline(t *testing.T, name, page string) {
	t.Helper()
	all := tags(t, page)
	for i, tg := range all {
		if tg.closing {
			continue
		}
		for attr, value := range tg.attrs {
			switch {
			case strings.HasPrefix(attr, "on"):
				t.Errorf("%s: <%s> has the event handler attribute %s=%q", name, tg.name, attr, value)
			case attr == "style":
				t.Errorf("%s: <%s> has an inline style %q", name, tg.name, value)
			case strings.HasPrefix(strings.ToLower(strings.TrimSpace(value)), "javascript:"):
				t.Errorf("%s: <%s %s> is a javascript: URL", name, tg.name, attr)
			}
		}
		switch tg.name {
		case "style":
			t.Errorf("%s: the page has an inline <style> element", name)
		case "script":
			src := tg.attrs["src"]
			if !strings.HasPrefix(src, "/oauth2/assets/") {
				t.Errorf("%s: a <script> that is not one of the issuer's assets (src %q)", name, src)
			}
			if i+1 >= len(all) || !all[i+1].closing || all[i+1].name != "script" {
				t.Errorf("%s: <script src=%q> is not closed at once", name, src)
			}
		case "link", "img":
			for _, attr := range []string{"href", "src"} {
				if v, ok := tg.attrs[attr]; ok && !strings.HasPrefix(v, "/") && v != "data:," {
					t.Errorf("%s: <%s %s=%q> loads from elsewhere than the issuer", name, tg.name, attr, v)
				}
			}
		}
	}
	if m := regexp.MustCompile(`(?s)<script[^>]*>([^<]+)</script>`).FindStringSubmatch(page); m != nil {
		t.Errorf("%s: an inline script: %q", name, m[1])
	}
}

// TestRenderEscapesEveryValue: hostile values come out as text and as the data attributes'
// exact values, never as markup, and a value that looks like a placeholder stays as it is.
func TestRenderEscapesEveryValue(t *testing.T) {
	out := string(Render(hostile))
	checkNothingInline(t, "Render", out)
	var body *tag
	titles := 0
	for _, tg := range tags(t, out) {
		switch {
		case tg.name == "body" && !tg.closing:
			body = &tg
		case tg.name == "title" && !tg.closing:
			titles++
		case tg.name == "img":
			t.Errorf("an <img> came out of the values: %v", tg.attrs)
		}
		if _, ok := tg.attrs["autofocus"]; ok {
			t.Errorf("the hint broke out of its attribute: <%s> %v", tg.name, tg.attrs)
		}
	}
	if titles != 1 {
		t.Errorf("%d <title> elements, want 1", titles)
	}
	if body == nil {
		t.Fatal("no <body>")
	}
	if body.attrs["data-request"] != hostile.RequestID || body.attrs["data-hint"] != hostile.LoginHint {
		t.Errorf("the body's data attributes are %v, want the request id %q and hint %q", body.attrs, hostile.RequestID, hostile.LoginHint)
	}
	if len(body.attrs) != 3 { // data-request, data-hint, data-state
		t.Errorf("the body has the attributes %v", body.attrs)
	}
	for _, want := range []string{
		"Sign in to &lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;{{hint}}",
		"with your &lt;img src=x onerror=alert(1)&gt; &amp; &#39;co&#39; account",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page does not contain %q", want)
		}
	}
	for _, placeholder := range []string{"{{request}}", "{{client}}", "{{app}}"} {
		if strings.Contains(out, placeholder) {
			t.Errorf("%s is left in the page", placeholder)
		}
	}
	// The client's name holds "{{hint}}": substituted once, it stays text.
	if strings.Count(out, "{{hint}}") != strings.Count(signInHTML, "{{client}}") {
		t.Errorf("{{hint}} inside the client name was substituted again")
	}
}

// TestMessageEscapes: the message page shows its title and text as text.
func TestMessageEscapes(t *testing.T) {
	out := string(Message(`<b>Bad</b> "request"`, `<script>alert(1)</script> & {{title}}`))
	checkNothingInline(t, "Message", out)
	for _, tg := range tags(t, out) {
		if tg.name == "b" || tg.name == "script" {
			t.Errorf("<%s> came out of the values", tg.name)
		}
	}
	for _, want := range []string{
		"<title>&lt;b&gt;Bad&lt;/b&gt; &#34;request&#34;</title>",
		"<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; {{title}}</p>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page does not contain %q:\n%s", want, out)
		}
	}
}

// TestAssetsServed: the HTML refers to exactly the assets Asset serves, each with its type,
// and Asset serves nothing else.
func TestAssetsServed(t *testing.T) {
	want := map[string]string{"signin.js": "text/javascript; charset=utf-8", "signin.css": "text/css; charset=utf-8"}
	for name, ctype := range want {
		body, got, ok := Asset(name)
		file, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || got != ctype || string(body) != string(file) || len(body) == 0 {
			t.Errorf("Asset(%q) = %d bytes, %q, %v; want the file's %d bytes as %q", name, len(body), got, ok, len(file), ctype)
		}
	}
	for _, name := range []string{"", "signin.html", "message.html", "page.go", "../page/signin.js", "/signin.js", "SIGNIN.JS"} {
		if _, _, ok := Asset(name); ok {
			t.Errorf("Asset(%q) serves something", name)
		}
	}
	for page, out := range map[string]string{"Render": string(Render(SignIn{})), "Message": string(Message("t", "x"))} {
		refs := map[string]bool{}
		for _, m := range regexp.MustCompile(`/oauth2/assets/([^"]+)`).FindAllStringSubmatch(out, -1) {
			refs[m[1]] = true
			if _, ok := want[m[1]]; !ok {
				t.Errorf("%s refers to /oauth2/assets/%s, which Asset does not serve", page, m[1])
			}
		}
		if !refs["signin.css"] || (page == "Render" && !refs["signin.js"]) {
			t.Errorf("%s refers to the assets %v", page, refs)
		}
	}
}

// TestScriptWritesTextOnly: the script puts no string into the page as markup and keeps
// nothing in localStorage, and every element it looks up exists in the page.
func TestScriptWritesTextOnly(t *testing.T) {
	for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "console.log"} {
		if strings.Contains(string(signInJS), banned) {
			t.Errorf("signin.js uses %s", banned)
		}
	}
	for _, m := range regexp.MustCompile(`\$\('#([\w-]+)'\)`).FindAllStringSubmatch(string(signInJS), -1) {
		if !strings.Contains(signInHTML, `id="`+m[1]+`"`) {
			t.Errorf("signin.js looks up #%s, which signin.html lacks", m[1])
		}
	}
	for _, attr := range []string{"dataset.request", "dataset.hint"} {
		if !strings.Contains(string(signInJS), attr) {
			t.Errorf("signin.js does not read body.%s", attr)
		}
	}
}

// TestCSP: the policy the pages are written for.
func TestCSP(t *testing.T) {
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'", "connect-src 'self'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %q: %s", want, CSP)
		}
	}
	if strings.Contains(CSP, "unsafe-") {
		t.Errorf("CSP allows something unsafe: %s", CSP)
	}
}
