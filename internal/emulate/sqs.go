package emulate

import (
	"context"

	"github.com/tetherfn/tether/internal/emulate/sqsemu"
)

type sqsServer struct{ srv *sqsemu.Server }

func startSQS(Options) (server, error) {
	srv, err := sqsemu.Start("127.0.0.1:0", nil)
	if err != nil {
		return nil, err
	}
	return &sqsServer{srv: srv}, nil
}

func (s *sqsServer) addr() string { return s.srv.URL() }

func (s *sqsServer) override(md map[string]string) map[string]string {
	out := neutralize(md, map[string]string{"sessionToken": ""})
	out["endpoint"] = s.addr()
	// The emulator checks no signature, but the SDK signs: any key does,
	// and none must come from the developer's AWS configuration.
	out["accessKey"], out["secretKey"] = "tether-dev", "tether-dev"
	if md["region"] == "" {
		out["region"] = "us-east-1"
	}
	// An empty emulator has no queues: the driver creates them.
	out["createQueue"] = "true"
	return out
}

func (s *sqsServer) prepare(context.Context, map[string]string) error { return nil }

func (s *sqsServer) close() error { return s.srv.Close() }
