package pades

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"sync"
	"testing"
)

// TestDeflateReusesWriters: deflate's pooled zlib writers, reused by many goroutines at once,
// give each input its own complete stream, which inflates back to exactly that input.
func TestDeflateReusesWriters(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				in := bytes.Repeat([]byte(fmt.Sprintf("goroutine %d input %d\n", g, i)), 1+i*37)
				z, err := deflate(in)
				if err != nil {
					t.Error(err)
					return
				}
				r, err := zlib.NewReader(bytes.NewReader(z))
				if err != nil {
					t.Error(err)
					return
				}
				out, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(out, in) {
					t.Errorf("goroutine %d input %d: inflated %d bytes (%v), want the %d deflated", g, i, len(out), err, len(in))
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestInflaterReusedAfterAnError: a reused zlib reader, put back after a stream that is not
// zlib and after one cut short, reads the next stream whole.
func TestInflaterReusedAfterAnError(t *testing.T) {
	good := []byte("the cross-reference stream's rows\n")
	z, err := deflate(bytes.Repeat(good, 100))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{[]byte("not zlib at all"), z[:len(z)/2]} {
		if zr, err := inflater(bytes.NewReader(bad)); err == nil {
			if _, err := io.ReadAll(zr); err == nil {
				t.Errorf("%q... inflated without an error", bad[:8])
			}
			inflaters.Put(zr)
		}
		zr, err := inflater(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		inflaters.Put(zr)
		if err != nil || !bytes.Equal(out, bytes.Repeat(good, 100)) {
			t.Errorf("after a bad stream: %d bytes, %v", len(out), err)
		}
	}
}
