package stacktest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/mail"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestOutboxShowsSentEmail sends an email as a function would (core/mail, from the sender the
// bootstrap verified) through the real moto, and reads it back from the gateway's
// /local/outbox, as JSON and as the page.
func TestOutboxShowsSentEmail(t *testing.T) {
	s := newStack(t)
	from := s.getenv("LATCHKEY_EMAIL_FROM")
	if from == "" {
		t.Fatal("the bootstrap exported no LATCHKEY_EMAIL_FROM for the functions")
	}
	g := s.startGateway(t)
	to := testenv.Name("outbox") + "@example.com"
	m := core.Message{Kind: "test", To: to, Subject: "Outbox test", Text: "code 123456", HTML: "<p>code <b>123456</b></p>"}
	if err := mail.New(sesv2.NewFromConfig(testenv.AWSConfig(t, "AWS_ENDPOINT_URL_SESV2")), from).Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	status, hdr, body := send(t, "GET", g.url+"/local/outbox?to="+to, "", "", nil)
	if status != 200 || hdr.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(string(body), "Outbox test") ||
		strings.Contains(string(body), "<b>123456</b>") {
		t.Fatalf("outbox page: %d %s\n%s", status, hdr.Get("Content-Type"), body)
	}
	status, _, body = send(t, "GET", g.url+"/local/outbox?format=json&to="+strings.ToUpper(to), "", "", nil)
	var got struct {
		Messages []struct {
			ID, From, Subject, Body string
			To                      []string
		}
	}
	if err := json.Unmarshal(body, &got); err != nil || status != 200 {
		t.Fatalf("outbox JSON: %d %s %v", status, body, err)
	}
	if len(got.Messages) != 1 {
		t.Fatalf("outbox holds %d messages to %s, want 1: %s", len(got.Messages), to, body)
	}
	if msg := got.Messages[0]; msg.ID == "" || msg.From != from || msg.Subject != "Outbox test" || msg.Body != m.HTML ||
		len(msg.To) != 1 || msg.To[0] != to {
		t.Errorf("outbox message %+v", msg)
	}

	// A raw message, which moto records apart, is listed too.
	raw := "From: " + from + "\r\nTo: " + to + "\r\nSubject: Raw test\r\n\r\nraw body\r\n"
	_, err := sesv2.NewFromConfig(testenv.AWSConfig(t, "AWS_ENDPOINT_URL_SESV2")).SendEmail(t.Context(), &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: []string{to}},
		Content:          &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, body = send(t, "GET", g.url+"/local/outbox?format=json&to="+to, "", "", nil)
	if err := json.Unmarshal(body, &got); err != nil || len(got.Messages) != 2 || got.Messages[1].Subject != "Raw test" {
		t.Errorf("outbox after a raw message: %s", body)
	}
}
