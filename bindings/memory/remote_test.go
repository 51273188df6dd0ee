package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
)

// serveBroker hosts this process's queues on a loopback port and points
// the memory components the test opens at it, so that every operation
// crosses the broker connection as it does between tether dev and a
// function.
func serveBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- memory.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Setenv(memory.BrokerEnv, ln.Addr().String())
	return ln.Addr().String()
}

func TestConformanceBroker(t *testing.T) {
	serveBroker(t)
	c := bindingtest.Config{
		Type: memory.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{"queue": bindingtest.Unique("broker")}
		},
		InvalidMetadata: []map[string]string{{"maxLength": "-1"}, {"maxLength": "many"}},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}

// TestBrokerClientExit: a client process that dies holding messages in
// flight (SIGKILL, no Close) gives them back to the queue at once.
func TestBrokerClientExit(t *testing.T) {
	if os.Getenv("MEMORY_TEST_CLIENT") == "1" {
		in := openInput(t, map[string]string{"queue": os.Getenv("MEMORY_TEST_QUEUE")})
		msgs := receive(t, in, 2)
		os.Stdout.WriteString("received " + string(msgs[0].Data) + string(msgs[1].Data) + "\n")
		select {} // killed by the parent
	}
	addr := serveBroker(t)
	q := bindingtest.Unique("exit")
	defer memory.Reset(q)
	memory.Publish(q, &bindings.Message{Data: []byte("a")}, &bindings.Message{Data: []byte("b")})

	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerClientExit$")
	cmd.Env = append(os.Environ(), "MEMORY_TEST_CLIENT=1", "MEMORY_TEST_QUEUE="+q, memory.BrokerEnv+"="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, len("received ab\n"))
	if _, err := out.Read(line); err != nil || string(line) != "received ab\n" {
		cmd.Process.Kill()
		t.Fatalf("client: %q, %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	in := openInput(t, map[string]string{"queue": q}) // through the broker too
	got := receive(t, in, 2)
	if string(got[0].Data) != "a" || string(got[1].Data) != "b" || got[0].DeliveryCount != 2 {
		t.Errorf("after the client died: %q (count %d), %q; want a (count 2), b", got[0].Data, got[0].DeliveryCount, got[1].Data)
	}
	for _, m := range got {
		if err := in.Ack(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListGetDelete(t *testing.T) {
	for _, via := range []string{"process", "broker"} {
		t.Run(via, func(t *testing.T) {
			if via == "broker" {
				serveBroker(t)
			}
			q := bindingtest.Unique("browse")
			defer memory.Reset(q)
			out := openOutput(t, map[string]string{"queue": q})
			in := openInput(t, map[string]string{"queue": q})
			create(t, out, "one", map[string]string{"k": "v"})
			create(t, out, "two", nil)
			create(t, out, "three", nil)
			first := receive(t, in, 1)[0] // "one" is now in flight

			list := func() []memory.Stored {
				t.Helper()
				resp, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpList})
				if err != nil {
					t.Fatal(err)
				}
				var all []memory.Stored
				if err := json.Unmarshal(resp.Data, &all); err != nil {
					t.Fatal(err)
				}
				return all
			}
			all := list()
			if len(all) != 3 || string(all[0].Data) != "one" || all[0].State != "in-flight" || all[0].Metadata["k"] != "v" ||
				string(all[1].Data) != "two" || all[1].State != "ready" || string(all[2].Data) != "three" {
				t.Fatalf("list = %+v", all)
			}
			resp, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpGet, Metadata: map[string]string{"id": all[1].ID}})
			if err != nil {
				t.Fatal(err)
			}
			var two memory.Stored
			if err := json.Unmarshal(resp.Data, &two); err != nil || string(two.Data) != "two" {
				t.Fatalf("get = %s, %v", resp.Data, err)
			}
			if _, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpDelete, Metadata: map[string]string{"id": first.ID}}); err == nil {
				t.Error("delete of a message in flight succeeded")
			}
			if _, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpDelete, Metadata: map[string]string{"id": two.ID}}); err != nil {
				t.Fatal(err)
			}
			if _, err := out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpGet, Metadata: map[string]string{"id": two.ID}}); err == nil {
				t.Error("get of a deleted message succeeded")
			}
			if err := in.Ack(t.Context(), first); err != nil {
				t.Fatal(err)
			}
			if all := list(); len(all) != 1 || string(all[0].Data) != "three" {
				t.Fatalf("after delete and ack, list = %+v", all)
			}
			if got := receive(t, in, 1)[0]; string(got.Data) != "three" {
				t.Errorf("next message %q, want three: the deleted one must not be delivered", got.Data)
			} else if err := in.Ack(t.Context(), got); err != nil {
				t.Fatal(err)
			}
			_, err = out.Invoke(t.Context(), &bindings.InvokeRequest{Operation: "purge"})
			if !errors.Is(err, bindings.ErrUnsupportedOperation) {
				t.Errorf("unknown operation: %v, want ErrUnsupportedOperation", err)
			}
		})
	}
}
