package mail_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/mail"
	"github.com/latchkey/latchkey/local/testenv"
)

// recipient and secret appear in every message of these tests; no error may repeat them.
const (
	recipient = "someone@example.net"
	secret    = "483920"
)

func message() core.Message {
	return core.Message{
		Kind:    "signup_code",
		To:      recipient,
		Subject: "Your code: " + secret,
		Text:    "Your code is " + secret + ".",
		HTML:    "<p>Your code is <b>" + secret + "</b>.</p>",
	}
}

// fakeSES is an HTTP endpoint in place of SES v2: it records each SendEmail body and
// answers with status and, for an error, the error type and a message naming the recipient
// (as SES's own messages may).
type fakeSES struct {
	mu     sync.Mutex
	bodies []map[string]any
	status int
	errTyp string
}

func (f *fakeSES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	status, errTyp := f.status, f.errTyp
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if status == 0 || status == http.StatusOK {
		_, _ = io.WriteString(w, `{"MessageId":"fake-1"}`)
		return
	}
	w.Header().Set("X-Amzn-Errortype", errTyp)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"message":"refused for `+recipient+`"}`)
}

// client is an SES v2 client for url that never retries, so each case is one request.
func client(url string) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(url),
		Retryer:      aws.NopRetryer{},
	})
}

// TestSendRequest: one simple message, from the configured address to the message's
// recipient, subject and both bodies in UTF-8.
func TestSendRequest(t *testing.T) {
	fake := &fakeSES{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	if err := mail.New(client(srv.URL), "no-reply@example.com").Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	if len(fake.bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(fake.bodies))
	}
	got, _ := json.Marshal(fake.bodies[0])
	want, _ := json.Marshal(map[string]any{
		"FromEmailAddress": "no-reply@example.com",
		"Destination":      map[string]any{"ToAddresses": []any{recipient}},
		"Content": map[string]any{"Simple": map[string]any{
			"Subject": map[string]any{"Charset": "UTF-8", "Data": "Your code: " + secret},
			"Body": map[string]any{
				"Text": map[string]any{"Charset": "UTF-8", "Data": "Your code is " + secret + "."},
				"Html": map[string]any{"Charset": "UTF-8", "Data": "<p>Your code is <b>" + secret + "</b>.</p>"},
			},
		}},
	})
	if string(got) != string(want) {
		t.Errorf("request\n got %s\nwant %s", got, want)
	}

	// A message without HTML sends the text body alone (SES refuses an empty part).
	m := message()
	m.HTML = ""
	if err := mail.New(client(srv.URL), "no-reply@example.com").Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	body := fake.bodies[1]["Content"].(map[string]any)["Simple"].(map[string]any)["Body"].(map[string]any)
	if _, ok := body["Html"]; ok || body["Text"] == nil {
		t.Errorf("body without HTML = %v", body)
	}
}

// TestSendErrors: refusals are internal, outages unavailable, and no error text holds the
// recipient or the message's content.
func TestSendErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		errTyp string
		want   core.Kind
	}{
		{"message rejected", 400, "MessageRejected", core.KindInternal},
		{"mail from not verified", 400, "MailFromDomainNotVerifiedException", core.KindInternal},
		{"sending paused", 400, "SendingPausedException", core.KindInternal},
		{"account suspended", 400, "AccountSuspendedException", core.KindInternal},
		{"unknown identity", 404, "NotFoundException", core.KindInternal},
		{"bad address", 400, "BadRequestException", core.KindInternal},
		{"not authorized", 403, "AccessDeniedException", core.KindInternal},
		{"throttled", 429, "TooManyRequestsException", core.KindUnavailable},
		{"quota reached", 400, "LimitExceededException", core.KindUnavailable},
		{"server error", 500, "InternalServiceErrorException", core.KindUnavailable},
		{"bad gateway", 502, "", core.KindUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeSES{status: c.status, errTyp: c.errTyp})
			defer srv.Close()
			err := mail.New(client(srv.URL), "no-reply@example.com").Send(t.Context(), message())
			if core.KindOf(err) != c.want {
				t.Fatalf("kind %v, want %v: %v", core.KindOf(err), c.want, err)
			}
			checkQuiet(t, err)
			if c.want == core.KindInternal && core.DetailOf(err) != "" {
				t.Errorf("a refusal has a client detail %q", core.DetailOf(err))
			}
			if c.errTyp != "" && !strings.Contains(err.Error(), c.errTyp) {
				t.Errorf("error %q does not name the code %s", err, c.errTyp)
			}
		})
	}

	t.Run("hung endpoint", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		err := mail.New(client(testenv.HungEndpoint(t)), "no-reply@example.com").Send(ctx, message())
		if core.KindOf(err) != core.KindUnavailable {
			t.Fatalf("kind %v: %v", core.KindOf(err), err)
		}
		checkQuiet(t, err)
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close() // nothing listens there any more
		err := mail.New(client(url), "no-reply@example.com").Send(t.Context(), message())
		if core.KindOf(err) != core.KindUnavailable || core.DetailOf(err) != "email service unavailable" {
			t.Fatalf("kind %v detail %q: %v", core.KindOf(err), core.DetailOf(err), err)
		}
		checkQuiet(t, err)
	})
}

// checkQuiet fails when err's text holds the recipient or the code, and requires it to name
// the message's kind.
func checkQuiet(t *testing.T, err error) {
	t.Helper()
	for _, leak := range []string{recipient, secret} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error text holds %q: %s", leak, err)
		}
	}
	if !strings.Contains(err.Error(), "signup_code") {
		t.Errorf("error text does not name the message kind: %s", err)
	}
}

// TestEndpointFromEnvironment: the SDK takes SES v2's endpoint from AWS_ENDPOINT_URL_SESV2
// (service id "SESv2"), the variable the local stack sets, with no code of ours.
func TestEndpointFromEnvironment(t *testing.T) {
	fake := &fakeSES{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_SESV2", srv.URL)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	if err != nil {
		t.Fatal(err)
	}
	if sesv2.ServiceID != "SESv2" {
		t.Errorf("sesv2.ServiceID = %q, want SESv2 (AWS_ENDPOINT_URL_SESV2)", sesv2.ServiceID)
	}
	if err := mail.New(sesv2.NewFromConfig(cfg), "no-reply@example.com").Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	if len(fake.bodies) != 1 {
		t.Fatalf("the endpoint of AWS_ENDPOINT_URL_SESV2 got %d requests, want 1", len(fake.bodies))
	}
}

// TestSendThroughMoto sends through the moto server of `make test`: from a verified identity
// the message is accepted and moto records it as sent (its HTML body, as moto keeps for a
// simple message with one); from an address no identity covers, SES refuses, internally.
func TestSendThroughMoto(t *testing.T) {
	api := testenv.SESv2(t)
	ctx := t.Context()
	domain := testenv.Name("mail") + ".example.com"
	if _, err := api.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(domain)}); err != nil {
		t.Fatal(err)
	}
	from := "no-reply@" + domain
	m := message()
	m.To = testenv.Name("to") + "@example.net"
	if err := mail.New(api, from).Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	sent := motoMessages(t, from)
	if len(sent) != 1 {
		t.Fatalf("moto holds %d messages from %s, want 1", len(sent), from)
	}
	got := sent[0]
	if got.Subject != m.Subject || got.Body != m.HTML || len(got.Destinations.ToAddresses) != 1 || got.Destinations.ToAddresses[0] != m.To {
		t.Errorf("moto recorded %+v", got)
	}

	err := mail.New(api, "no-reply@"+testenv.Name("unverified")+".example.com").Send(ctx, m)
	if core.KindOf(err) != core.KindInternal || !strings.Contains(err.Error(), "MessageRejected") {
		t.Fatalf("an unverified sender: kind %v: %v", core.KindOf(err), err)
	}
	if strings.Contains(err.Error(), m.To) || strings.Contains(err.Error(), secret) {
		t.Errorf("error text holds the recipient or code: %s", err)
	}
}

// motoMessage is one message in moto's record of sent email (GET /moto-api/data.json).
type motoMessage struct {
	ID           string `json:"id"`
	Source       string `json:"source"`
	Subject      string `json:"subject"`
	Body         string `json:"body"`
	Destinations struct {
		ToAddresses []string `json:"ToAddresses"`
	} `json:"destinations"`
}

// motoMessages returns the messages moto recorded as sent from source.
func motoMessages(t *testing.T, source string) []motoMessage {
	t.Helper()
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_SESV2") // fails the test when it is unset
	resp, err := http.Get(strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_SESV2"), "/") + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data struct {
		SES struct {
			Message []motoMessage `json:"Message"`
		} `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		t.Fatal(err)
	}
	var out []motoMessage
	for _, m := range data.SES.Message {
		if m.Source == source {
			out = append(out, m)
		}
	}
	return out
}
