package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// ErrFunctionCrashed means the process exited (or never became ready) while the invocation
	// was pending or running.
	ErrFunctionCrashed = errors.New("function process exited")
	// ErrFunctionTimeout means the invocation ran past the function's timeout; the process was
	// killed and is being restarted.
	ErrFunctionTimeout = errors.New("function timed out")
)

// FunctionError is an error the function reported through the Runtime API
// (invocation error or init error).
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// initTimeout bounds the init phase (spawn to first /next), as Lambda does.
const initTimeout = 10 * time.Second

// Process supervises the warm process of one function and serves its Runtime API.
// Invocations are run one at a time; others queue. A process that dies after becoming ready
// is restarted at once; one that fails during init is started again by the next invocation.
type Process struct {
	fn     Function
	binary string
	env    []string
	logOut io.Writer
	log    *slog.Logger

	listener net.Listener
	server   *http.Server
	turn     chan struct{} // one token: the invocation that holds it runs

	mu       sync.Mutex
	inst     *instance
	inflight map[string]*invocation
	stopping bool
}

// instance is one spawned OS process of a function.
type instance struct {
	cmd       *exec.Cmd
	spawned   time.Time
	pending   chan *invocation // hands an invocation to this process's /next
	ready     chan struct{}    // closed at the first /next
	readyOnce sync.Once
	exited    chan struct{} // closed once the process has exited
	initErr   *FunctionError
}

// invocation is one event on its way through the Runtime API.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan result // buffered; receives the function's answer once
}

type result struct {
	payload []byte
	err     error
}

// NewProcess opens the function's Runtime API listener on 127.0.0.1. Start launches the process.
// Function output is copied to logOut, each line prefixed with the function name.
func NewProcess(fn Function, binary string, baseEnv []string, logOut io.Writer, log *slog.Logger) (*Process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Process{
		fn:       fn,
		binary:   binary,
		logOut:   logOut,
		log:      log.With("function", fn.Name),
		listener: ln,
		turn:     make(chan struct{}, 1),
		inflight: map[string]*invocation{},
	}
	p.env = lambdaEnv(fn, binary, ln.Addr().String(), baseEnv)
	p.server = &http.Server{Handler: p.runtimeAPI(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("runtime API stopped", "err", err)
		}
	}()
	return p, nil
}

// lambdaEnv is the process environment: the template's literal variables, the gateway's own
// environment on top, then the variables Lambda itself sets.
func lambdaEnv(fn Function, binary, runtimeAddr string, base []string) []string {
	var env []string
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	env = append(env, base...)
	env = append(env,
		"AWS_LAMBDA_RUNTIME_API="+runtimeAddr,
		"AWS_LAMBDA_FUNCTION_NAME="+fn.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(fn.MemoryMB),
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

// errStopping means the gateway is shutting down and starts no more processes.
var errStopping = errors.New("gateway is shutting down")

// Start launches the warm process.
func (p *Process) Start() {
	if _, err := p.ensure(); err != nil && !errors.Is(err, errStopping) {
		p.log.Error("function failed to start", "err", err)
	}
}

// ensure returns the live instance, spawning one when there is none.
func (p *Process) ensure() (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return nil, errStopping
	}
	if p.inst != nil && !closed(p.inst.exited) {
		return p.inst, nil
	}
	cmd := exec.Command(p.binary)
	cmd.Dir = filepath.Dir(p.binary)
	cmd.Env = p.env
	cmd.Stdout = newPrefixWriter(p.logOut, p.fn.Name)
	cmd.Stderr = cmd.Stdout
	cmd.WaitDelay = time.Second
	configureChild(cmd)
	inst := &instance{
		cmd:     cmd,
		spawned: time.Now(),
		pending: make(chan *invocation),
		ready:   make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.binary, err)
	}
	p.inst = inst
	go p.watch(inst)
	return inst, nil
}

// watch waits for inst to exit and restarts a process that had been ready.
func (p *Process) watch(inst *instance) {
	err := inst.cmd.Wait()
	close(inst.exited)
	p.mu.Lock()
	stopping := p.stopping
	p.mu.Unlock()
	if stopping {
		return
	}
	wasReady := closed(inst.ready)
	p.log.Warn("function process exited", "err", err, "ready", wasReady,
		"uptime_ms", time.Since(inst.spawned).Milliseconds())
	if !wasReady {
		return // failed init: the next invocation tries again, as Lambda does
	}
	// A process that crashes right after becoming ready would spin; give it a breather.
	delay := time.Duration(0)
	if time.Since(inst.spawned) < time.Second {
		delay = time.Second
	}
	time.AfterFunc(delay, p.Start)
}

// Invoke runs one invocation with payload and returns the function's response payload.
// It waits for its turn (one invocation per process at a time) for as long as ctx allows.
func (p *Process) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.turn }()

	// A process that dies between two invocations is replaced once; a second death is the
	// function's fault.
	for attempt := 0; ; attempt++ {
		inst, err := p.ensure()
		if err != nil {
			return nil, err
		}
		if err := p.awaitReady(inst); err != nil {
			return nil, err
		}
		inv := &invocation{
			id:       newRequestID(),
			payload:  payload,
			deadline: time.Now().Add(p.fn.Timeout),
			done:     make(chan result, 1),
		}
		p.mu.Lock()
		p.inflight[inv.id] = inv
		p.mu.Unlock()
		out, err := p.run(inst, inv)
		if errors.Is(err, errNotDelivered) {
			if attempt == 0 {
				continue
			}
			err = ErrFunctionCrashed
		}
		return out, err
	}
}

// errNotDelivered means the process exited before it took the invocation.
var errNotDelivered = errors.New("process exited before taking the invocation")

// run hands inv to inst and waits for the answer, killing the process when the deadline passes.
func (p *Process) run(inst *instance, inv *invocation) ([]byte, error) {
	defer p.forget(inv.id)
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	select {
	case inst.pending <- inv:
	case <-inst.exited:
		return nil, errNotDelivered
	case <-timer.C:
		return nil, p.timedOut(inst, inv)
	}
	select {
	case res := <-inv.done:
		return res.payload, res.err
	case <-inst.exited:
		return nil, ErrFunctionCrashed
	case <-timer.C:
		return nil, p.timedOut(inst, inv)
	}
}

func (p *Process) timedOut(inst *instance, inv *invocation) error {
	p.log.Error("function timed out; restarting it", "request_id", inv.id, "timeout", p.fn.Timeout.String())
	p.kill(inst)
	return ErrFunctionTimeout
}

// awaitReady waits for inst's first /next, bounded by initTimeout.
func (p *Process) awaitReady(inst *instance) error {
	timer := time.NewTimer(initTimeout)
	defer timer.Stop()
	select {
	case <-inst.ready:
		return nil
	case <-inst.exited:
		p.mu.Lock()
		initErr := inst.initErr
		p.mu.Unlock()
		if initErr != nil {
			return initErr
		}
		return ErrFunctionCrashed
	case <-timer.C:
		p.log.Error("function init timed out", "timeout", initTimeout.String())
		p.kill(inst)
		return ErrFunctionTimeout
	}
}

func (p *Process) forget(id string) {
	p.mu.Lock()
	delete(p.inflight, id)
	p.mu.Unlock()
}

// kill ends inst and waits for it to be gone.
func (p *Process) kill(inst *instance) {
	_ = inst.cmd.Process.Kill()
	<-inst.exited
}

// Stop stops the process and the Runtime API listener.
func (p *Process) Stop(ctx context.Context) {
	p.mu.Lock()
	p.stopping = true
	inst := p.inst
	p.mu.Unlock()
	if inst != nil && !closed(inst.exited) {
		_ = inst.cmd.Process.Signal(os.Interrupt)
		select {
		case <-inst.exited:
		case <-time.After(500 * time.Millisecond):
			p.kill(inst)
		}
	}
	_ = p.server.Shutdown(ctx)
}

// current returns the newest instance, or nil.
func (p *Process) current() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inst
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// newRequestID returns a random id shaped like a Lambda request id (a UUID).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
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
