package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/oidc/page"
)

type handler struct {
	provider *oidc.Provider
	appName  string // LATCHKEY_RP_NAME, shown on the hosted page
	cookies  cookieNames
	log      *slog.Logger
}

// cookieNames are the names of the provider's two cookies and whether they are Secure. On an
// https issuer they carry the __Host- prefix (Secure, no Domain, Path=/: only this origin can
// set or read them); on http://localhost, where a browser refuses Secure cookies, plain names.
type cookieNames struct {
	session, binding string
	secure           bool
}

func cookiesFor(issuer string) cookieNames {
	if strings.HasPrefix(issuer, "https://") {
		return cookieNames{session: "__Host-latchkey-session", binding: "__Host-latchkey-request", secure: true}
	}
	return cookieNames{session: "latchkey-session", binding: "latchkey-request"}
}

// Handle routes one API Gateway request.
func (h *handler) Handle(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	switch req.RouteKey {
	case "GET /oauth2/authorize":
		return h.authorize(ctx, req), nil
	case "GET /oauth2/signin":
		return h.signIn(ctx, req), nil
	case "GET /oauth2/assets/{file}":
		return h.asset(req), nil
	case "POST /oauth2/authorize/complete":
		return h.complete(ctx, req)
	case "GET /oauth2/userinfo", "POST /oauth2/userinfo":
		return h.userInfo(ctx, req), nil
	case "GET /oauth2/logout":
		return h.logout(ctx, req), nil
	}
	return apigw.NotFound(req), nil
}

// authorize is the authorization endpoint. A bad client or redirect URI is a 400 page; a
// throttled browser a 429 page; everything else a 302, to the client or to the hosted page.
func (h *handler) authorize(ctx context.Context, req *apigw.Request) apigw.Response {
	q, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		return h.page(http.StatusBadRequest, page.Message("Sign-in failed", "The sign-in link is malformed."))
	}
	a, err := h.provider.Authorize(ctx, oidc.AuthorizeInput{
		Query: q, Session: cookie(req, h.cookies.session), Binding: cookie(req, h.cookies.binding), Client: apigw.Client(req),
	})
	if err != nil {
		return h.errorPage(ctx, err)
	}
	resp := redirect(a.Redirect)
	if a.Binding != "" {
		resp.Cookies = append(resp.Cookies, h.cookie(h.cookies.binding, a.Binding, oidc.RequestTTL))
	}
	if a.EndSession {
		resp.Cookies = append(resp.Cookies, h.cookie(h.cookies.session, "", -1))
	}
	return resp
}

// signIn serves the hosted page for the request ?request= names, with its client's name, to
// the browser that made the request only (its binding cookie).
func (h *handler) signIn(ctx context.Context, req *apigw.Request) apigw.Response {
	id := req.QueryStringParameters["request"]
	r, err := h.provider.Request(ctx, id, cookie(req, h.cookies.binding))
	if err != nil {
		return h.errorPage(ctx, err)
	}
	return h.page(http.StatusOK, page.Render(page.SignIn{
		RequestID: r.ID, ClientName: h.provider.Clients[r.ClientID].DisplayName(), AppName: h.appName, LoginHint: r.LoginHint,
	}))
}

// asset serves the hosted page's script and style sheet, cacheable for a few minutes (a
// deployment replaces them).
func (h *handler) asset(req *apigw.Request) apigw.Response {
	body, contentType, ok := page.Asset(req.PathParameters["file"])
	if !ok {
		return apigw.NotFound(req)
	}
	return apigw.Response{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": contentType, "Cache-Control": "public, max-age=300"},
		Body:       string(body),
	}
}

// complete is the hosted page's call once the person signed in: 200 {"redirect"} and the
// provider session cookie.
func (h *handler) complete(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	var body struct {
		Request string `json:"request"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	token, err := apigw.BearerToken(req)
	if err != nil {
		return apigw.Response{}, err
	}
	c, err := h.provider.Complete(ctx, oidc.CompleteInput{
		AccessToken: token, RequestID: body.Request, Binding: cookie(req, h.cookies.binding),
		Session: cookie(req, h.cookies.session), Client: apigw.Client(req),
	})
	if err != nil {
		return apigw.Response{}, err
	}
	resp := apigw.JSON(http.StatusOK, map[string]string{"redirect": c.Redirect})
	// The binding cookie stays: another tab of this browser may have a request of its own.
	resp.Cookies = []string{h.cookie(h.cookies.session, c.Session, h.provider.SessionTTL)}
	return resp, nil
}

// userInfo is OIDC Core §5.3 with the RFC 6750 challenges.
func (h *handler) userInfo(ctx context.Context, req *apigw.Request) apigw.Response {
	token, err := apigw.BearerToken(req)
	if err == nil {
		var info oidc.UserInfo
		if info, err = h.provider.UserInfo(ctx, token); err == nil {
			return apigw.JSON(http.StatusOK, info)
		}
	}
	resp := apigw.Error(ctx, h.log, err)
	if code, _ := core.CodeOf(err); code == "insufficient_scope" {
		resp.Headers["WWW-Authenticate"] = `Bearer error="insufficient_scope", scope="openid"`
	}
	return resp
}

// logout is RP-initiated logout: 302 to the registered post-logout redirect URI, or the
// signed-out page; the provider session cookie is cleared either way.
func (h *handler) logout(ctx context.Context, req *apigw.Request) apigw.Response {
	q, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		return h.page(http.StatusBadRequest, page.Message("Sign-out failed", "The sign-out link is malformed."))
	}
	out, err := h.provider.Logout(ctx, oidc.LogoutInput{Query: q, Session: cookie(req, h.cookies.session), Client: apigw.Client(req)})
	if err != nil {
		resp := h.errorPage(ctx, err)
		return resp
	}
	var resp apigw.Response
	if out.Redirect != "" {
		resp = redirect(out.Redirect)
	} else {
		resp = h.page(http.StatusOK, page.Message("You are signed out", "You have signed out of "+h.appName+". You can close this page."))
	}
	resp.Cookies = append(resp.Cookies, h.cookie(h.cookies.session, "", -1))
	return resp
}

// errorPage answers err as a page: its client-safe detail, never the cause; 503 for an
// outage, 429 with Retry-After when throttled.
func (h *handler) errorPage(ctx context.Context, err error) apigw.Response {
	problem := apigw.Error(ctx, h.log, err) // logs the cause once, and gives status and headers
	text := core.DetailOf(err)
	switch core.KindOf(err) {
	case core.KindInternal:
		text = "Something went wrong. Go back to the application and try again."
	case core.KindUnavailable:
		text = "The sign-in service is unavailable. Try again in a moment."
	case core.KindRateLimited:
		text = "Too many sign-in attempts from this network. Wait a moment and try again."
	}
	resp := h.page(problem.StatusCode, page.Message("Sign-in failed", text))
	if v := problem.Headers["Retry-After"]; v != "" {
		resp.Headers["Retry-After"] = v
	}
	return resp
}

// page answers an HTML page with the hosted page's headers: a strict CSP, no framing, no
// referrer (the page's URL carries the request id), never cached.
func (h *handler) page(status int, body []byte) apigw.Response {
	return apigw.Response{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Security-Policy": page.CSP,
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
		},
		Body: string(body),
	}
}

// redirect is a 302 to location, with no referrer (the URL carries a code or a request id).
func redirect(location string) apigw.Response {
	return apigw.Response{
		StatusCode: http.StatusFound,
		Headers:    map[string]string{"Location": location, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
	}
}

// cookie is a Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, Secure on https; a negative
// maxAge deletes it.
func (h *handler) cookie(name, value string, maxAge time.Duration) string {
	secs := int(maxAge / time.Second)
	if maxAge < 0 {
		secs = 0
	}
	c := name + "=" + value + "; Path=/; Max-Age=" + strconv.Itoa(secs) + "; HttpOnly; SameSite=Lax"
	if h.cookies.secure {
		c += "; Secure"
	}
	return c
}

// cookie returns the value of the request's cookie name, "" if absent or given more than
// once (two cookies of one name mean something else set one: trust neither).
func cookie(req *apigw.Request, name string) string {
	var found []string
	for _, raw := range req.Cookies {
		for _, part := range strings.Split(raw, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				found = append(found, v)
			}
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}
