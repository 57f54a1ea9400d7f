package main

import (
	"os"
	"testing"

	"sealvault/vault/pages"
)

// TestMain serves page workers: ingest runs them as this executable started again.
func TestMain(m *testing.M) {
	pages.WorkerMain()
	os.Exit(m.Run())
}
