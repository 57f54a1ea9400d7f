package s3test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestBuckets checks that each test gets its own empty, working bucket, removed afterwards.
func TestBuckets(t *testing.T) {
	var names []string
	t.Run("use", func(t *testing.T) {
		c := Client(t)
		a, b := Bucket(t), Bucket(t)
		names = []string{a, b}
		if a == b {
			t.Fatalf("two calls returned the same bucket %s", a)
		}
		if _, err := c.PutObject(t.Context(), a, "k", strings.NewReader("in a"), 4, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PUT to a fresh bucket: %v", err)
		}
		if _, err := c.StatObject(t.Context(), b, "k", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Errorf("bucket %s sees an object of bucket %s: %v", b, a, err)
		}
		obj, err := c.GetObject(t.Context(), a, "k", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		if err != nil || string(got) != "in a" {
			t.Errorf("GET returned %q, %v", got, err)
		}
	})
	c := Client(t)
	for _, n := range names {
		if ok, err := c.BucketExists(t.Context(), n); err != nil || ok {
			t.Errorf("bucket %s still exists after its test: %v, %v", n, ok, err)
		}
	}
}

const childEnv = "SEALVAULT_S3TEST_CHILD"

// TestServerDiesWithTestBinary runs a test binary that starts the server and exits without
// any cleanup, and checks that the server is gone with it and that the next start removes
// its data.
func TestServerDiesWithTestBinary(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		endpoint, _, _ := Server(t)
		fmt.Printf("endpoint=%s dir=%s\n", endpoint, filepath.Dir(shared.dir))
		os.Exit(0) // as abruptly as a crash: no cleanup runs
	}
	Server(t) // this binary's own server, so its sweep has run already

	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestBinary$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child test binary: %v\n%s%s", err, out, stderr.Bytes())
	}
	var endpoint, dir string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "endpoint=%s dir=%s", &endpoint, &dir); err == nil {
			break
		}
	}
	if endpoint == "" || dir == "" {
		t.Fatalf("the child printed no endpoint:\n%s", out)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", endpoint, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the child's versitygw still listens on %s after the child exited", endpoint)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the child's data directory %s: %v", dir, err)
	}
	sweep(filepath.Dir(dir))
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data directory of a finished test binary survived the sweep: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(shared.dir)); err != nil {
		t.Errorf("the sweep removed the data directory of the running binary: %v", err)
	}
}
