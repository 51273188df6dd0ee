package kafka_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/kafka"
)

func TestConformance(t *testing.T) {
	c := bindingtest.Config{
		Type: kafka.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			topic := newTopic(t, "conformance", 4)
			return map[string]string{
				"brokers": brokers(t), "topics": topic, "publishTopic": topic,
				"consumerGroup": topic, "initialOffset": "oldest",
			}
		},
		InvalidMetadata: []map[string]string{
			{"initialOffset": "yesterday"},
			{"brokers": ""},
			{"brokers": "localhost"}, // no port
			{"authType": "password"}, // no saslUsername
			{"authType": "password", "saslUsername": "u", "saslMechanism": "MD5"},
			{"authType": "mtls", "clientCert": "not a certificate", "clientKey": "nor a key"},
			{"authType": "mtls"}, // no certificate
			{"clientCert": "a certificate without mtls"},
			{"caCert": "not PEM"},
			{"authType": "oidc", "oidcClientID": "id", "oidcClientSecret": "s"}, // no endpoint
			{"authType": "oidc", "oidcTokenEndpoint": "https://idp.example/token"},
			{"authType": "oidc", "oidcTokenEndpoint": "https://idp.example/token", "oidcClientID": "id", "oidcClientSecret": "s", "oidcExtensions": "[1]"},
			{"maxMessageBytes": "0"},
			{"acks": "some"},
			{"sessionTimeout": "0"},
			{"heartbeatInterval": "20s"}, // above a third of sessionTimeout
			{"consumerGroupRebalanceStrategy": "random"},
			{"compression": "brotli"},
		},
		Skip: map[string]string{
			bindingtest.TestOrdering: "Message.Key is \"<topic>/<partition>\", the unit Kafka orders, not the partitionKey sent; " +
				"TestOrderingPerPartition checks that each partitionKey's records arrive in order under one Key",
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}
