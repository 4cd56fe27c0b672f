package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Errors Invoke returns; the HTTP side maps them to API Gateway's answers.
var (
	// ErrFunctionCrashed means the function process exited or failed its init (the emulator
	// answers 502 and starts it again on the next invocation), or the emulator itself failed
	// (it is restarted on the next invocation).
	ErrFunctionCrashed = errors.New("function crashed")
	// ErrFunctionTimeout means the invocation ran past the function's timeout (the emulator
	// stops the function and initializes it again on the next invocation), or the emulator
	// stopped answering (it is restarted).
	ErrFunctionTimeout = errors.New("function timed out")
)

// FunctionError is an error the function returned for an invocation.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// invokePath is the emulator's invoke API (the Lambda Invoke API's path, function "function").
const invokePath = "/2015-03-31/functions/function/invocations"

// Bounds on waiting for the emulator, on top of the function's own timeout, which the
// emulator enforces on init and invocation together.
const (
	emulatorStartTimeout = 5 * time.Second // spawn to its invoke API accepting connections
	emulatorGrace        = 5 * time.Second // past the function's timeout, the emulator is hung
	emulatorStopTimeout  = 2 * time.Second // SIGINT to exit, then SIGKILL
)

// Emulator runs one function under aws-lambda-rie, AWS's Lambda Runtime Interface Emulator,
// which serves the function its Runtime API, initializes it on the first invocation, enforces
// its timeout and starts it again after a crash or a timeout. The emulator handles one
// invocation at a time (concurrent ones crash it), so Invoke queues them. The emulator process
// itself is restarted when it exits or stops answering.
type Emulator struct {
	fn     Function
	rie    string // path of aws-lambda-rie
	binary string // the function's bootstrap
	env    []string
	out    io.Writer // the emulator's output: function output and its own error lines
	log    *slog.Logger
	client *http.Client
	turn   chan struct{} // one token: the invocation that holds it runs

	mu       sync.Mutex
	proc     *rieProcess
	stopping bool
}

// rieProcess is one running aws-lambda-rie.
type rieProcess struct {
	cmd    *exec.Cmd
	addr   string        // its invoke API, host:port
	exited chan struct{} // closed once it has exited
	// The fields below are used only by the invocation holding the turn.
	up    bool // the invoke API has accepted a connection
	fresh bool // the next invocation initializes the function
}

// NewEmulator prepares the emulator of fn's bootstrap binary; Start launches it. Its output,
// function output included, is copied to logOut, each line prefixed with the function name.
func NewEmulator(fn Function, rie, binary string, baseEnv []string, logOut io.Writer, log *slog.Logger) *Emulator {
	return &Emulator{
		fn:     fn,
		rie:    rie,
		binary: binary,
		env:    lambdaEnv(fn, binary, baseEnv),
		out:    newPrefixWriter(logOut, fn.Name),
		log:    log.With("function", fn.Name),
		client: &http.Client{Transport: &http.Transport{}}, // no proxy: the emulator is on loopback
		turn:   make(chan struct{}, 1),
	}
}

// lambdaEnv is the emulator's environment, which it passes on to the function: the template's
// literal variables, the gateway's own environment on top, then the variables Lambda itself
// sets (the emulator adds AWS_LAMBDA_RUNTIME_API).
func lambdaEnv(fn Function, binary string, base []string) []string {
	var env []string
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	env = append(env, base...)
	env = append(env,
		"AWS_LAMBDA_FUNCTION_NAME="+fn.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(fn.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int(fn.Timeout/time.Second)),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+fn.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=local",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT="+filepath.Dir(binary),
	)
	if fn.LogFormat != "" {
		env = append(env, "AWS_LAMBDA_LOG_FORMAT="+fn.LogFormat)
	}
	return env
}

// errStopping means the gateway is shutting down and starts no more emulators.
var errStopping = errors.New("gateway is shutting down")

// Start launches the emulator; the function itself starts on the first invocation.
func (e *Emulator) Start() {
	if _, err := e.spawn(); err != nil && !errors.Is(err, errStopping) {
		e.log.Error("aws-lambda-rie failed to start", "err", err)
	}
}

// spawn starts an emulator process on two free loopback ports and makes it the current one.
func (e *Emulator) spawn() (*rieProcess, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopping {
		return nil, errStopping
	}
	invokeAddr, runtimeAddr, err := freeAddrs()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.rie,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		"--log-level", "error",
		e.binary)
	cmd.Dir = filepath.Dir(e.binary) // the emulator runs the function in its own folder
	cmd.Env = e.env
	cmd.Stdout = e.out
	cmd.Stderr = e.out
	cmd.WaitDelay = time.Second
	configureChild(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", e.rie, err)
	}
	p := &rieProcess{cmd: cmd, addr: invokeAddr, exited: make(chan struct{}), fresh: true}
	e.proc = p
	go func() {
		err := cmd.Wait()
		close(p.exited)
		e.mu.Lock()
		stopping := e.stopping
		e.mu.Unlock()
		if !stopping {
			e.log.Warn("aws-lambda-rie exited", "err", err)
		}
	}()
	return p, nil
}

// freeAddrs returns two distinct 127.0.0.1 addresses whose ports were free a moment ago.
func freeAddrs() (string, string, error) {
	var addrs [2]string
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		defer ln.Close() // both stay taken until both are chosen
		addrs[i] = ln.Addr().String()
	}
	return addrs[0], addrs[1], nil
}

// ready returns the current emulator, started again if it has exited, once its invoke API
// accepts connections. Only the holder of the turn calls it.
func (e *Emulator) ready() (*rieProcess, error) {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p == nil || closed(p.exited) {
		var err error
		if p, err = e.spawn(); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(emulatorStartTimeout)
	for !p.up {
		if closed(p.exited) {
			return nil, errors.New("aws-lambda-rie exited before serving its invoke API")
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("aws-lambda-rie did not serve its invoke API within %s", emulatorStartTimeout)
		}
		if c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond); err == nil {
			c.Close()
			p.up = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p, nil
}

// Invoke runs one invocation with payload and returns the function's response payload.
// It waits for its turn for as long as ctx allows; once the event is sent it waits for the
// emulator's answer even if ctx ends, since the emulator must finish before the next one.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	select {
	case e.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.turn }()

	p, err := e.ready()
	if err != nil {
		if errors.Is(err, errStopping) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrFunctionCrashed, err)
	}
	start := time.Now()
	out, err := e.post(p, payload)
	var fe *FunctionError
	if p.fresh && (err == nil || errors.As(err, &fe)) {
		p.fresh = false
		e.log.Info("function initialized", "first_invoke_ms", time.Since(start).Milliseconds())
	}
	return out, err
}

// post sends the event to the emulator and sorts its answer: 200 with the function's payload,
// its error object or "Task timed out after N.00 seconds", or 502 when the function exited or
// failed its init. Anything else, or no answer in time, means the emulator itself is broken;
// it is killed and started again by the next invocation.
func (e *Emulator) post(p *rieProcess, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.fn.Timeout+emulatorGrace)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.addr+invokePath, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.log.Error("aws-lambda-rie did not answer; restarting it", "waited", (e.fn.Timeout + emulatorGrace).String())
		p.kill()
		return nil, fmt.Errorf("%w: aws-lambda-rie did not answer", ErrFunctionTimeout)
	case err != nil:
		e.log.Error("aws-lambda-rie failed; restarting it", "err", err)
		p.kill()
		return nil, fmt.Errorf("%w: aws-lambda-rie: %v", ErrFunctionCrashed, err)
	case resp.StatusCode == http.StatusOK && bytes.HasPrefix(body, []byte("Task timed out after ")):
		p.fresh = true
		return nil, fmt.Errorf("%w: %s", ErrFunctionTimeout, body)
	case resp.StatusCode == http.StatusOK:
		if fe := functionError(body); fe != nil {
			return nil, fe
		}
		return body, nil
	case resp.StatusCode == http.StatusBadGateway:
		p.fresh = true
		fe := &FunctionError{}
		_ = json.Unmarshal(body, fe)
		return nil, fmt.Errorf("%w: %s", ErrFunctionCrashed, fe)
	default:
		e.log.Error("aws-lambda-rie answered unexpectedly; restarting it", "status", resp.StatusCode, "body", string(body))
		p.kill()
		return nil, fmt.Errorf("%w: aws-lambda-rie answered %d", ErrFunctionCrashed, resp.StatusCode)
	}
}

// functionError returns the error object the emulator answers (with 200, like a result) when
// the function returned an error: errorMessage and errorType strings and at most a stackTrace
// besides, with no statusCode. The emulator sends no X-Amz-Function-Error header, so this
// shape is all there is to go by: a function returning exactly such an object as its result
// gets a 500 here, where API Gateway would pass it through.
func functionError(body []byte) *FunctionError {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil
	}
	for k := range obj {
		if k != "errorMessage" && k != "errorType" && k != "stackTrace" {
			return nil
		}
	}
	var fe FunctionError
	if json.Unmarshal(obj["errorType"], &fe.Type) != nil || json.Unmarshal(obj["errorMessage"], &fe.Message) != nil {
		return nil
	}
	return &fe
}

// Stop ends the emulator (and with it the function) and starts no new one.
func (e *Emulator) Stop() {
	e.mu.Lock()
	e.stopping = true
	p := e.proc
	e.mu.Unlock()
	if p == nil || closed(p.exited) {
		return
	}
	// On SIGINT the emulator stops the function process and exits.
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(emulatorStopTimeout):
		p.kill()
	}
}

// kill ends the emulator and the function process it started at once, and waits for it.
func (p *rieProcess) kill() {
	if !closed(p.exited) {
		killTree(p.cmd.Process)
	}
	<-p.exited
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// prefixWriter copies whole lines to out, each prefixed with "name | ".
type prefixWriter struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	buf    []byte
}

func newPrefixWriter(out io.Writer, name string) *prefixWriter {
	return &prefixWriter{out: out, prefix: name + " | "}
}

// Write buffers p and writes every complete line.
func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(w.out, w.prefix+string(w.buf[:i+1])); err != nil {
			return len(p), err
		}
		w.buf = w.buf[i+1:]
	}
	// A runaway line without newline is flushed in pieces rather than buffered forever.
	if len(w.buf) > 64<<10 {
		_, _ = io.WriteString(w.out, w.prefix+string(w.buf)+"\n")
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
