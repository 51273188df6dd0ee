package emulate

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2/pstest"
)

// devProject is the Pub/Sub project of components that name none.
const devProject = "tether-dev"

type pubsubServer struct{ srv *pstest.Server }

func startPubsub(Options) (s server, err error) {
	// pstest panics when it cannot listen.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return &pubsubServer{srv: pstest.NewServerWithAddress("127.0.0.1:0")}, nil
}

func (p *pubsubServer) addr() string { return p.srv.Addr }

func (p *pubsubServer) override(md map[string]string) map[string]string {
	out := neutralize(md, map[string]string{
		"credentialsJson": "", "type": "", "private_key_id": "", "private_key": "", "client_email": "",
		"client_id": "", "auth_uri": "", "token_uri": "", "auth_provider_x509_cert_url": "", "client_x509_cert_url": "",
	})
	out["endpoint"] = p.addr()
	// The driver creates topics and subscriptions unless told not to; an
	// empty emulator has none, so it must.
	out["disableEntityManagement"] = "false"
	if md["projectId"] == "" && md["project_id"] == "" {
		out["projectId"] = devProject
	}
	return out
}

func (p *pubsubServer) prepare(context.Context, map[string]string) error { return nil }

func (p *pubsubServer) close() error { return p.srv.Close() }
