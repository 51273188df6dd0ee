package sqs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/faulttest"
)

// The tests run against fauxqs (testdata/fauxqs, installed with `npm ci
// --prefix bindings/sqs/testdata/fauxqs`), started once per test binary on
// a free loopback port, or against the SQS-compatible endpoint in
// TETHER_TEST_SQS_ENDPOINT.

func TestMain(m *testing.M) { faulttest.Main(m) }

const region = "us-east-1"

var emulator struct {
	once     sync.Once
	endpoint string
	err      error
	// stdin is kept open for the life of the test binary: fauxqs exits when
	// it closes, so it never outlives a test binary that dies.
	stdin io.WriteCloser
}

// endpoint returns the SQS endpoint the tests use, starting fauxqs on first
// use.
func endpoint(t testing.TB) string {
	t.Helper()
	if e := os.Getenv("TETHER_TEST_SQS_ENDPOINT"); e != "" {
		return e
	}
	emulator.once.Do(func() { emulator.endpoint, emulator.err = startFauxqs() })
	if emulator.err != nil {
		t.Fatal(emulator.err)
	}
	return emulator.endpoint
}

func startFauxqs() (string, error) {
	dir := filepath.Join("testdata", "fauxqs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "package.json")); err != nil {
		return "", fmt.Errorf("the SQS emulator is not installed: run `npm ci --prefix bindings/sqs/testdata/fauxqs` (or set TETHER_TEST_SQS_ENDPOINT): %w", err)
	}
	cmd := exec.Command("node", "server.mjs", "0")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start fauxqs (is node installed?): %w", err)
	}
	emulator.stdin = stdin
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		if addr, found := strings.CutPrefix(l, "listening "); ok && found {
			return addr, nil
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", fmt.Errorf("fauxqs did not start: %q; stderr:\n%s", l, stderr.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return "", errors.New("fauxqs did not start within 30s")
	}
}

// client is a raw SQS client on the test endpoint, for what the tests do
// besides the binding: creating queues, sending as a foreign producer,
// looking at what is left.
func client(t testing.TB) *awssqs.Client {
	return awssqs.New(awssqs.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// newQueue creates a queue with a unique name (FIFO when fifo is set) and
// returns its name.
func newQueue(t testing.TB, fifo bool, attrs map[string]string) string {
	t.Helper()
	name := bindingtest.Unique("tether")
	if attrs == nil {
		attrs = map[string]string{}
	}
	if fifo {
		name += ".fifo"
		attrs["FifoQueue"] = "true"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client(t).CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs}); err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return name
}

func queueURL(t testing.TB, name string) string {
	t.Helper()
	out, err := client(t).GetQueueUrl(context.Background(), &awssqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// metadata is component metadata for queue on the test endpoint, with
// extra keys laid over it.
func metadata(t testing.TB, queue string, extra map[string]string) map[string]string {
	md := map[string]string{
		"queueName": queue,
		"region":    region,
		"endpoint":  endpoint(t),
		"accessKey": "test",
		"secretKey": "test",
	}
	for k, v := range extra {
		md[k] = v
	}
	return md
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
