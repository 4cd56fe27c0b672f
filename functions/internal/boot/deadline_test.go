package boot

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDeadlineIsTheEarlierOfTheTwo: RequestTimeout from now, unless the Lambda's deadline less
// DeadlineMargin comes first.
func TestDeadlineIsTheEarlierOfTheTwo(t *testing.T) {
	ctx, cancel := Deadline(context.Background())
	defer cancel()
	d, ok := ctx.Deadline()
	if left := time.Until(d); !ok || left > RequestTimeout || left < RequestTimeout-time.Second {
		t.Fatalf("without a Lambda deadline: %v left (%v), want about %s", left, ok, RequestTimeout)
	}
	lambda, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer lcancel()
	ctx, cancel = Deadline(lambda)
	defer cancel()
	ld, _ := lambda.Deadline()
	if d, _ := ctx.Deadline(); !d.Equal(ld.Add(-DeadlineMargin)) {
		t.Fatalf("with a Lambda deadline in 2 s: %v, want %v", d, ld.Add(-DeadlineMargin))
	}
	far, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	ctx, cancel = Deadline(far)
	defer cancel()
	if d, _ := ctx.Deadline(); time.Until(d) > RequestTimeout {
		t.Fatalf("with a Lambda deadline in 10 s: %v left, want at most %s", time.Until(d), RequestTimeout)
	}
}

// TestSDKTransportHasTimeouts: the SDK's client never waits forever to connect or for an
// answer (http.DefaultTransport has no response-header timeout).
func TestSDKTransportHasTimeouts(t *testing.T) {
	cfg, err := AWS(context.Background(), env(map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.HTTPClient.(oneWrite).c
	tr, ok := c.Transport.(*http.Transport)
	if !ok || tr == http.DefaultTransport {
		t.Fatalf("transport %T is not a transport of its own", c.Transport)
	}
	if tr.ResponseHeaderTimeout != ResponseHeaderTimeout || tr.TLSHandshakeTimeout != TLSHandshakeTimeout || tr.DialContext == nil {
		t.Fatalf("transport timeouts: header %s tls %s", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
	if ResponseHeaderTimeout >= RequestTimeout || DialTimeout >= RequestTimeout {
		t.Fatalf("an attempt (%s, dial %s) must fit inside a request (%s)", ResponseHeaderTimeout, DialTimeout, RequestTimeout)
	}
}

// TestSDKTransportGivesUpOnAHungPeer: a peer that accepts and never answers fails an attempt
// after ResponseHeaderTimeout even with no deadline on the request.
func TestSDKTransportGivesUpOnAHungPeer(t *testing.T) {
	ln := hungListener(t)
	start := time.Now()
	resp, err := httpClient().Get("http://" + ln)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a hung peer answered")
	}
	if took := time.Since(start); took > ResponseHeaderTimeout+time.Second {
		t.Fatalf("gave up after %s, want about %s", took, ResponseHeaderTimeout)
	}
}

// hungListener accepts connections and never answers; it closes when the test ends.
func hungListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}
