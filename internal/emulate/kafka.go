package emulate

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaPartitions is the partition count of the topics the emulator
// creates: more than one, so that ordering per key and concurrency across
// keys behave as on a real cluster.
const kafkaPartitions = 4

type kafkaServer struct {
	c     *kfake.Cluster
	admin *kadm.Client
}

func startKafka(o Options) (server, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(kafkaPartitions)}
	if o.Dir != "" {
		opts = append(opts, kfake.DataDir(filepath.Join(o.Dir, "kafka")))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		c.Close()
		return nil, err
	}
	return &kafkaServer{c: c, admin: kadm.NewClient(cl)}, nil
}

func (k *kafkaServer) addr() string { return strings.Join(k.c.ListenAddrs(), ",") }

func (k *kafkaServer) override(md map[string]string) map[string]string {
	out := neutralize(md, map[string]string{
		"authType": "none", "saslUsername": "", "saslPassword": "", "saslMechanism": "PLAINTEXT",
		"caCert": "", "clientCert": "", "clientKey": "", "skipVerify": "false",
		"oidcTokenEndpoint": "", "oidcClientID": "", "oidcClientSecret": "", "oidcExtensions": "",
	})
	out["brokers"] = k.addr()
	return out
}

// prepare creates the component's topics, which a real cluster would
// already have (the driver does not create topics).
func (k *kafkaServer) prepare(ctx context.Context, md map[string]string) error {
	var topics []string
	for _, t := range strings.Split(md["topics"]+","+md["publishTopic"], ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return nil
	}
	resp, err := k.admin.CreateTopics(ctx, kafkaPartitions, 1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

func (k *kafkaServer) close() error {
	k.admin.Close()
	k.c.Close()
	return nil
}
