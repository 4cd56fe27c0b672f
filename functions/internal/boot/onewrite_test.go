package boot

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// opaqueBody is a request body net/http cannot tell is in memory, as the SDK's own reader is.
type opaqueBody struct{ io.Reader }

func (opaqueBody) Close() error { return nil }

// writeCounter answers every request 200 and counts the writes each connection's client makes.
type writeCounter struct {
	mu     sync.Mutex
	writes int
}

func (w *writeCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		r := bufio.NewReader(server)
		for {
			req, err := http.ReadRequest(r)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			if string(body) != `{"KeyId":"k"}` {
				_, _ = io.WriteString(server, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
				continue
			}
			_, _ = io.WriteString(server, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	}()
	return countingConn{client, w}, nil
}

type countingConn struct {
	net.Conn
	w *writeCounter
}

func (c countingConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.writes++
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

// TestOneWrite: a request whose body the SDK hands over in a reader of its own leaves in one
// write (request line, headers and body together) through oneWrite, and in two without it
// (net/http flushes the headers first), with the body intact either way.
func TestOneWrite(t *testing.T) {
	for _, c := range []struct {
		name   string
		wrap   bool
		writes int
	}{{"net/http alone", false, 2}, {"oneWrite", true, 1}} {
		t.Run(c.name, func(t *testing.T) {
			w := &writeCounter{}
			hc := &http.Client{Transport: &http.Transport{DialContext: w.dial}}
			var client interface {
				Do(*http.Request) (*http.Response, error)
			} = hc
			if c.wrap {
				client = oneWrite{hc}
			}
			const body = `{"KeyId":"k"}`
			req, err := http.NewRequest(http.MethodPost, "http://kms.test/", opaqueBody{strings.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = int64(len(body))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("the server got another body: %d", resp.StatusCode)
			}
			if w.writes != c.writes {
				t.Fatalf("%d writes for one request, want %d", w.writes, c.writes)
			}
		})
	}
}

// TestOneWriteLeavesOthersAlone: a body of unknown length is streamed as it came (chunked).
func TestOneWriteLeavesOthersAlone(t *testing.T) {
	w := &writeCounter{}
	req, _ := http.NewRequest(http.MethodPost, "http://kms.test/", opaqueBody{strings.NewReader(`{"KeyId":"k"}`)})
	req.ContentLength = -1
	resp, err := oneWrite{&http.Client{Transport: &http.Transport{DialContext: w.dial}}}.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || w.writes < 2 {
		t.Fatalf("status %d after %d writes: the unknown-length body was not streamed", resp.StatusCode, w.writes)
	}
}
