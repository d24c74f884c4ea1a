package main

import (
	"os"
	"testing"
)

// TestMain runs paw's own main instead of the tests when PAW_TEST_MAIN is
// set: tests start the test binary as a paw process (see startPaw), signals
// and exit status included.
func TestMain(m *testing.M) {
	if os.Getenv("PAW_TEST_MAIN") != "" {
		main()
		return
	}
	os.Exit(m.Run())
}
