package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// coldStart is what one start of a function binary cost, and what its warm invocations cost
// after it.
type coldStart struct {
	initWall, initCPU   time.Duration // exec to the first GET …/invocation/next: Lambda's Init
	firstWall, firstCPU time.Duration // that event handed out to its response: the first invoke
	// warmCPU is the process's CPU per invocation over warmRuns more of the same event, after
	// warmups: the whole warm loop of the function (the Lambda runtime client's exchange with
	// the Runtime API, decoding, the handler, encoding), with nothing but the function timed.
	warmCPU time.Duration
	// pausedCPU is the same over pausedRuns more, each handed out eventPause after the last
	// answer: what an invocation costs when the process has been idle in between, as it is
	// behind the gateway (a request's round trip there is several milliseconds) and in Lambda.
	pausedCPU time.Duration
	// pkgInit is the part of initCPU that is package initialization (packageInit), measured in
	// a run of its own.
	pkgInit time.Duration
}

// Warm invocations measured after each cold start: warmups first, then warmRuns counted
// back to back, then pausedRuns counted with eventPause of idleness before each.
const (
	warmups    = 20
	warmRuns   = 200
	pausedRuns = 100
	eventPause = 5 * time.Millisecond
)

// measureColdStart starts binary as Lambda starts a provided.al2023 function, with a Runtime
// API of its own on loopback (no aws-lambda-rie in between, so nothing else is timed): the
// init is from exec to the function's first request for an event, when the process's CPU is
// read before the event is handed out; then the one event is invoked, and the process's CPU
// read again when its response arrives. Then warmups more invocations of the same event, and
// warmRuns counted ones (coldStart.warmCPU), and pausedRuns after pauses
// (coldStart.pausedCPU); the process is killed after that.
func measureColdStart(binary string, env []string, event []byte) (coldStart, error) {
	var (
		res       coldStart
		mu        sync.Mutex
		pid       int
		started   time.Time
		handed    time.Time
		initCPU   cpu
		warmFrom  cpu
		pauseFrom cpu
		nexts     int
		done      = make(chan error, 1)
	)
	finish := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		nexts++
		switch nexts {
		case 1:
			res.initWall = time.Since(started)
			c, err := readCPU(pid)
			if err != nil {
				mu.Unlock()
				finish(err)
				return
			}
			initCPU, res.initCPU = c, c.exec
			handed = time.Now()
		case 2 + warmups, 2 + warmups + warmRuns, 2 + warmups + warmRuns + pausedRuns:
			c, err := readCPU(pid)
			if err != nil {
				mu.Unlock()
				finish(err)
				return
			}
			switch nexts {
			case 2 + warmups:
				warmFrom = c
			case 2 + warmups + warmRuns:
				res.warmCPU = c.sub(warmFrom).exec / warmRuns
				pauseFrom = c
			default:
				res.pausedCPU = c.sub(pauseFrom).exec / pausedRuns
				mu.Unlock()
				finish(nil)
				<-r.Context().Done() // the process is killed while it waits for the next event
				return
			}
		}
		paused := nexts > 2+warmups+warmRuns
		mu.Unlock()
		if paused {
			time.Sleep(eventPause) // the process sits idle in its request for the next event
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "bench-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(10*time.Second).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		_, _ = w.Write(event)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		if nexts != 1 {
			return
		}
		res.firstWall = time.Since(handed)
		c, err := readCPU(pid)
		if err != nil {
			finish(err)
			return
		}
		res.firstCPU = c.sub(initCPU).exec
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		finish(fmt.Errorf("the function answered an error: %s", b))
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		finish(fmt.Errorf("init failed: %s", b))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	cmd := exec.Command(binary)
	cmd.Dir = filepath.Dir(binary)
	cmd.Env = append(append([]string(nil), env...),
		"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=bench",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT="+filepath.Dir(binary),
	)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	mu.Lock()
	started = time.Now()
	if err := cmd.Start(); err != nil {
		mu.Unlock()
		return res, err
	}
	pid = cmd.Process.Pid
	mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	select {
	case err = <-done:
	case werr := <-exited:
		return res, fmt.Errorf("%s exited (%v) during its cold start: %s", binary, werr, out.String())
	case <-ctx.Done():
		err = errors.New("no answer within 60 s")
	}
	_ = cmd.Process.Kill()
	<-exited
	if err != nil {
		return res, fmt.Errorf("%s: %w; output: %s", filepath.Base(filepath.Dir(binary)), err, out.String())
	}
	return res, nil
}

// environWithout is os.Environ without the variables named.
func environWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return env
}

// packageInit is the CPU the Go runtime reports for initializing binary's packages (the
// GODEBUG=inittrace=1 lines, their "ms clock" summed): the part of a cold start's init that is
// the program's own variables and tables, before main and before any network call. The binary
// runs outside a Lambda (no Runtime API): it prints those lines first, and is killed after.
func packageInit(binary string, env []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary)
	cmd.Dir = filepath.Dir(binary)
	cmd.Env = append(append([]string(nil), env...), "GODEBUG=inittrace=1")
	var out strings.Builder
	cmd.Stderr = &out
	_ = cmd.Run() // it cannot serve without a Runtime API; only its init lines are wanted
	var total time.Duration
	lines := 0
	for _, line := range strings.Split(out.String(), "\n") {
		// init github.com/aws/smithy-go @1.2 ms, 0.011 ms clock, 0 bytes, 0 allocs
		f := strings.Fields(line)
		if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
			continue
		}
		ms, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: bad inittrace line %q", binary, line)
		}
		total += time.Duration(ms * float64(time.Millisecond))
		lines++
	}
	if lines == 0 {
		return 0, fmt.Errorf("%s printed no inittrace lines: %s", binary, out.String())
	}
	return total, nil
}
