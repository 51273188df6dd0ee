package scaffold

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Tidy completes the go.mod and go.sum of the module in dir with go mod
// tidy. Offline, the go command may only use the module cache (GOPROXY=off):
// a module scaffolded against a checkout needs nothing else, since the
// checkout builds from the same cache.
//
// go mod tidy also wants the modules of the tests of every dependency,
// which a build never needs and the cache may lack, so it runs with -e; a
// go list of everything the function and its go generate build then checks
// that nothing they need is missing.
func Tidy(ctx context.Context, dir string, offline bool) error {
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if offline {
		env = append(env, "GOPROXY=off")
	}
	if out, err := goCmd(ctx, dir, env, "mod", "tidy", "-e"); err != nil {
		return fmt.Errorf("go mod tidy: %w\n%s", err, out)
	}
	env = append(env, "GOFLAGS=-mod=readonly")
	out, err := goCmd(ctx, dir, env, "list", "-deps", "-test", "./...", TetherModule+"/cmd/tether")
	if err != nil {
		return fmt.Errorf("go mod tidy left modules out: %w\n%s", err, out)
	}
	return nil
}

func goCmd(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}
