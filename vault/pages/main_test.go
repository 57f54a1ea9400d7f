package pages

import (
	"os"
	"testing"
)

// TestMain serves page workers: ingest runs them as this executable started again.
func TestMain(m *testing.M) {
	WorkerMain()
	os.Exit(m.Run())
}
