package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings/redis/internal/redistest"
)

// shared is the package's private server, started by TestMain.
var shared *redistest.Server

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tether-redis-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, err = redistest.Start(dir, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "private redis-server:", err)
		return 1
	}
	defer shared.Stop()
	return m.Run()
}

// unique returns name with a random suffix, so that runs never share a
// stream, group or key.
func unique(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
