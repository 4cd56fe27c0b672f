package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxResponseBytes is Lambda's limit on a synchronous invocation's response payload.
const maxResponseBytes = 6 << 20

// runtimeAPI serves the Lambda Runtime API (2018-06-01) for the function's process:
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
func (p *Process) runtimeAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", p.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", p.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", p.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", p.initError)
	return mux
}

// next blocks until an invocation is handed to the calling process, then returns its event.
// The first call of a process ends its init phase.
func (p *Process) next(w http.ResponseWriter, r *http.Request) {
	inst := p.current()
	if inst == nil {
		runtimeError(w, http.StatusInternalServerError, "Runtime.Unknown", "no process")
		return
	}
	inst.readyOnce.Do(func() {
		close(inst.ready)
		p.log.Info("function ready", "init_ms", time.Since(inst.spawned).Milliseconds())
	})
	var inv *invocation
	select {
	case inv = <-inst.pending:
	case <-inst.exited:
		return
	case <-r.Context().Done():
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", functionARN(p.fn.Name))
	h.Set("Lambda-Runtime-Trace-Id", traceID())
	_, _ = w.Write(inv.payload)
}

// response records the function's result for an invocation.
func (p *Process) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxResponseBytes))
	if err != nil {
		p.finish(r.PathValue("id"), result{err: &FunctionError{
			Type: "Function.ResponseSizeTooLarge", Message: "response payload exceeds 6 MB"}})
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response payload exceeds 6 MB")
		return
	}
	if !p.finish(r.PathValue("id"), result{payload: body}) {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or finished request id")
		return
	}
	accepted(w)
}

// invocationError records an error the function reported for an invocation.
func (p *Process) invocationError(w http.ResponseWriter, r *http.Request) {
	fe := readFunctionError(r)
	if !p.finish(r.PathValue("id"), result{err: fe}) {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or finished request id")
		return
	}
	accepted(w)
}

// initError records that the process failed to initialize; it exits afterwards.
func (p *Process) initError(w http.ResponseWriter, r *http.Request) {
	fe := readFunctionError(r)
	p.log.Error("function init error", "error_type", fe.Type, "error_message", fe.Message)
	p.mu.Lock()
	if p.inst != nil {
		p.inst.initErr = fe
	}
	p.mu.Unlock()
	accepted(w)
}

// finish delivers res to the waiting invocation id; false if there is none.
func (p *Process) finish(id string, res result) bool {
	p.mu.Lock()
	inv, ok := p.inflight[id]
	delete(p.inflight, id)
	p.mu.Unlock()
	if !ok {
		return false
	}
	inv.done <- res // buffered, and each id is finished once
	return true
}

// readFunctionError decodes the Runtime API error body; the type also comes in a header.
func readFunctionError(r *http.Request) *FunctionError {
	fe := &FunctionError{}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(body, fe)
	if fe.Type == "" {
		fe.Type = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(FunctionError{Type: typ, Message: msg})
}

// Local stand-ins for the account and region in ARNs and events.
const (
	localAccountID = "123456789012"
	localRegion    = "us-east-1"
)

func functionARN(name string) string {
	return "arn:aws:lambda:" + localRegion + ":" + localAccountID + ":function:" + name
}

// traceID returns an X-Ray style trace header value (not sampled).
func traceID() string {
	id := newRequestID()
	return "Root=1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + id[:8] + id[9:13] + id[14:18] + id[19:23] + id[24:28] + ";Sampled=0"
}
