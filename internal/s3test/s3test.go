// Package s3test gives tests a real S3 service: one versitygw process per test binary,
// serving a data directory under <module root>/var/s3test on a loopback port, and a fresh
// bucket per test.
//
// versitygw is built from the tools/ module into <module root>/bin/versitygw by `make test`
// (or named by $SEALVAULT_VERSITYGW). The process is started on first use with
// PR_SET_PDEATHSIG, from an OS thread that stays alive for the life of the test binary, so
// the kernel kills it when the test binary exits however that happens; data directories
// of test binaries that are gone are removed by the next start.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sealvault/internal/testkit"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// EnvBinary names the environment variable that overrides where the versitygw binary is.
const EnvBinary = "SEALVAULT_VERSITYGW"

// The root credentials of the test service.
const (
	AccessKey = "sealvault-test"
	SecretKey = "sealvault-test-secret"
)

const startTimeout = 30 * time.Second

type server struct {
	endpoint string
	dir      string // the posix backend's root: one subdirectory per bucket
}

var (
	once     sync.Once
	shared   *server
	startErr error
)

// errNotBuilt marks a missing binary, which gets a hint on how to build it.
var errNotBuilt = errors.New("versitygw not built")

// Server returns the endpoint (host:port, plain HTTP) and root credentials of the shared
// versitygw, starting it on first use. A server that cannot be started fails the test.
func Server(t testing.TB) (endpoint, access, secret string) {
	t.Helper()
	once.Do(func() { shared, startErr = start() })
	if errors.Is(startErr, errNotBuilt) {
		t.Fatalf("s3test: %v\n\nRun `make test` (it builds the versitygw pinned in tools/go.mod into bin/versitygw), or "+
			"`cd tools && GOBIN=$PWD/../bin go install github.com/versity/versitygw/cmd/versitygw`, "+
			"or set %s to a versitygw binary", startErr, EnvBinary)
	} else if startErr != nil {
		t.Fatalf("s3test: %v", startErr)
	}
	return shared.endpoint, AccessKey, SecretKey
}

// Client returns a minio-go client of the shared server with root credentials, for tests
// that act on the service directly (making buckets, damaging objects behind a store).
func Client(t testing.TB) *minio.Client {
	t.Helper()
	endpoint, access, secret := Server(t)
	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")})
	if err != nil {
		t.Fatalf("s3test: client: %v", err)
	}
	return c
}

// Bucket creates an empty bucket with a random name on the shared server and removes it,
// with everything in it, when the test ends.
func Bucket(t testing.TB) string {
	t.Helper()
	c := Client(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("s3test: make bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The posix backend keeps a bucket as a directory; removing it behind the service's
		// back is quicker than deleting each object and the bucket through S3.
		if err := os.RemoveAll(filepath.Join(shared.dir, name)); err != nil {
			t.Errorf("s3test: removing bucket %s: %v", name, err)
		}
	})
	return name
}

func start() (*server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	root, err := testkit.ModuleRoot()
	if err != nil {
		return nil, err
	}
	base := filepath.Join(root, "var", "s3test")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	sweep(base)
	dir, err := os.MkdirTemp(base, "gw-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ".pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, err
	}
	// A port chosen by the kernel can be taken again before versitygw binds it; try again
	// with another one if so.
	var lastErr error
	for range 3 {
		endpoint, err := launch(bin, data, filepath.Join(dir, "versitygw.log"))
		if err == nil {
			return &server{endpoint: endpoint, dir: data}, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// binary finds the versitygw executable.
func binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %w", errNotBuilt, EnvBinary, p, err)
		}
		return p, nil
	}
	root, err := testkit.ModuleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: %w", errNotBuilt, err)
	}
	return p, nil
}

// launch starts versitygw on a free loopback port and waits until it answers S3 requests.
func launch(bin, data, logFile string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	endpoint := l.Addr().String()
	l.Close()

	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--port", endpoint, "--access", AccessKey, "--secret", SecretKey, "--quiet", "posix", data)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	// PR_SET_PDEATHSIG fires when the thread that forked the child ends, not the process.
	// The goroutine below keeps its thread locked and alive for as long as the server runs
	// (that is, until the test binary exits), so the signal comes only with the binary.
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
		logf.Close()
		close(exited)
		// Returning with the thread locked ends the thread too; the child is gone already.
	}()
	if err := <-started; err != nil {
		return "", fmt.Errorf("starting %s: %w", bin, err)
	}

	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""), MaxRetries: 1})
	if err != nil {
		_ = cmd.Process.Kill()
		return "", err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return endpoint, nil
		}
		select {
		case <-exited:
			return "", fmt.Errorf("versitygw exited at start (%s): %s", bin, tail(logFile))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return "", fmt.Errorf("versitygw on %s did not answer within %s: %v; log: %s", endpoint, startTimeout, err, tail(logFile))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sweep removes data directories of earlier test binaries that are no longer running.
func sweep(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(base, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, ".pid"))
		if err != nil {
			if fi, serr := os.Stat(dir); serr == nil && time.Since(fi.ModTime()) > time.Hour {
				_ = os.RemoveAll(dir) // never got its pid file
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(dir)
		}
	}
}

func tail(file string) string {
	b, _ := os.ReadFile(file)
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
