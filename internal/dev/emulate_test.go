package dev_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	_ "github.com/tetherfn/tether/bindings/sqs" // tether dev reads the component, as the tether command does
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
)

const sqsSource = `package orders

import (
	"context"

	"github.com/tetherfn/tether/functions"
)

type Order struct {
	ID int ` + "`json:\"id\"`" + `
}

type Outputs struct {
	Done functions.Output[Order] ` + "`binding:\"done\"`" + `
}

//tether:function orders trigger=orders
func Orders(ctx context.Context, o Order, out Outputs) error {
	return out.Done.Send(ctx, o)
}
`

// TestEmulateSQS runs tether dev on a function triggered by an SQS queue
// whose endpoint answers nothing: tether dev runs it on the SQS emulator,
// names the emulator's address, leaves the component file as it was and
// writes no secret, and a message sent to the queue through the dev API is
// handled.
func TestEmulateSQS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	// An endpoint that refuses connections: a port just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	const secret = "s3cr3t-not-on-disk"
	t.Setenv("DEVTEST_SQS_SECRET", secret)
	sqsComponent := `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: bindings.aws.sqs
  version: v1
  metadata:
  - name: queueName
    value: devtest-emulate-orders
  - name: endpoint
    value: http://` + down + `
  - name: region
    value: eu-west-1
  - name: accessKey
    value: AKIDEVTEST
  - name: secretKey
    secretKeyRef:
      name: DEVTEST_SQS_SECRET
      key: DEVTEST_SQS_SECRET
`
	dir := module(t, map[string]string{
		"tools_sqs.go":                "//go:build tools\n\npackage tools\n\nimport _ \"github.com/tetherfn/tether/bindings/sqs\"\n",
		"orders/orders.go":            sqsSource,
		"orders/components/sqs.yaml":  sqsComponent,
		"orders/components/done.yaml": queue("done"),
		"orders/components/notes.txt": secret,
	})
	var logs syncbuf.Buffer
	addr := startDev(t, dir, &logs)

	summary := logs.String()
	if !strings.Contains(summary, "emulator bindings.aws.sqs: SQS JSON protocol (sqsemu) on http://127.0.0.1:") {
		t.Errorf("the summary names no SQS emulator address:\n%s", summary)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "orders", "components", "sqs.yaml")); err != nil || string(got) != sqsComponent {
		t.Errorf("the component file changed (%v):\n%s", err, got)
	}
	emulated, err := os.ReadFile(filepath.Join(dir, ".tether", "dev", "components", "orders", "sqs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(emulated), secret) || strings.Contains(string(emulated), down) {
		t.Errorf("the emulated component holds the secret or the old endpoint:\n%s", emulated)
	}

	t.Logf("summary:\n%s\nemulated sqs.yaml:\n%s", summary, emulated)
	if fi, err := os.Lstat(filepath.Join(dir, ".tether", "dev", "components", "orders", "notes.txt")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("a file other than a component is not linked from the copy: %v", err)
	}

	done, _, err := bindings.OpenInput(t.Context(), bindings.Config{Name: "done", Type: memory.TypeName, Metadata: map[string]string{"queue": "done"}})
	if err != nil {
		t.Fatal(err)
	}
	defer done.Close()
	send(t, addr, "orders", `{"id":42}`)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		msgs, err := done.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("no handled order within a minute: %v", err)
		}
		for _, m := range msgs {
			done.Ack(ctx, m)
			if strings.Contains(string(m.Data), `"id":42`) {
				return
			}
			t.Errorf("unexpected message %s", m.Data)
		}
	}
}
