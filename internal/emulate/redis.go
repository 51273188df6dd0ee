package emulate

import (
	"context"

	"github.com/alicebob/miniredis/v2"
)

type redisServer struct{ m *miniredis.Miniredis }

func startRedis(Options) (server, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return &redisServer{m: m}, nil
}

func (r *redisServer) addr() string { return r.m.Addr() }

func (r *redisServer) override(md map[string]string) map[string]string {
	out := neutralize(md, map[string]string{
		"redisPort": "", "redisUsername": "", "redisPassword": "", "redisType": "node",
		"enableTLS": "false", "clientCert": "", "clientKey": "",
		"failover": "false", "sentinelMasterName": "", "sentinelUsername": "", "sentinelPassword": "",
	})
	out["redisHost"] = r.addr()
	return out
}

func (r *redisServer) prepare(context.Context, map[string]string) error { return nil }

func (r *redisServer) close() error {
	r.m.Close()
	return nil
}
