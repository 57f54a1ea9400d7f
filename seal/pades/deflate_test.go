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
