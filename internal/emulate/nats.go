package emulate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// natsServer is an embedded nats-server with JetStream, serving NATS
// clients and, for the MQTT emulator, MQTT 3.1.1 clients.
type natsServer struct {
	ns       *natsserver.Server
	mqttAddr string // host:port; "" without MQTT
	tmp      string // a store folder to remove on close; "" when Options.Dir holds it
}

// startNATSServer starts nats-server on 127.0.0.1 with JetStream stored in
// dir/name (or a temporary folder), and an MQTT listener when mqtt is set.
func startNATSServer(o Options, name string, mqtt bool) (*natsServer, error) {
	s := &natsServer{}
	store := ""
	if o.Dir != "" {
		store = filepath.Join(o.Dir, name)
	} else {
		tmp, err := os.MkdirTemp("", "tether-"+name+"-")
		if err != nil {
			return nil, err
		}
		store, s.tmp = tmp, tmp
	}
	opts := &natsserver.Options{
		ServerName: "tether-dev-" + name, // MQTT needs one
		Host:       "127.0.0.1",
		Port:       natsserver.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   store,
		NoLog:      true,
		NoSigs:     true,
	}
	if mqtt {
		// nats-server does not report a random MQTT port back: take a free
		// one first.
		port, err := freePort()
		if err != nil {
			s.removeTmp()
			return nil, err
		}
		opts.MQTT.Host, opts.MQTT.Port = "127.0.0.1", port
		s.mqttAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		s.removeTmp()
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		s.removeTmp()
		return nil, errors.New("nats-server was not ready within 30s")
	}
	s.ns = ns
	return s, nil
}

func (s *natsServer) removeTmp() {
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}

func (s *natsServer) close() error {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.removeTmp()
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *natsServer) prepare(context.Context, map[string]string) error { return nil }

// natsEmulator serves the bindings.nats type.
type natsEmulator struct{ *natsServer }

func startNATS(o Options) (server, error) {
	s, err := startNATSServer(o, "nats", false)
	if err != nil {
		return nil, err
	}
	return natsEmulator{s}, nil
}

func (n natsEmulator) addr() string { return n.ns.ClientURL() }

func (n natsEmulator) override(md map[string]string) map[string]string {
	out := neutralize(md, map[string]string{
		"token": "", "jwt": "", "seedKey": "", "caCert": "", "clientCert": "", "clientKey": "",
	})
	out["natsURL"] = n.addr()
	return out
}

// mqttEmulator serves the bindings.mqtt3 type.
type mqttEmulator struct{ *natsServer }

func startMQTT(o Options) (server, error) {
	s, err := startNATSServer(o, "mqtt", true)
	if err != nil {
		return nil, err
	}
	return mqttEmulator{s}, nil
}

func (m mqttEmulator) addr() string { return "tcp://" + m.mqttAddr }

func (m mqttEmulator) override(md map[string]string) map[string]string {
	out := neutralize(md, map[string]string{"caCert": "", "clientCert": "", "clientKey": ""})
	out["url"] = m.addr()
	// nats-server has no shared subscriptions: a $share/<group>/ topic
	// would match nothing. tether dev runs one process per function, which
	// then gets every message of the topic, as its only group member would.
	if rest, ok := strings.CutPrefix(md["topic"], "$share/"); ok {
		if _, topic, ok := strings.Cut(rest, "/"); ok {
			out["topic"] = topic
		}
	}
	return out
}
