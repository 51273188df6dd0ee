package redis_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/redis"
)

func TestConformance(t *testing.T) {
	c := bindingtest.Config{
		Type: redis.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{"redisHost": shared.Addr, "stream": bindingtest.Unique("conformance")}
		},
		InvalidMetadata: []map[string]string{
			{"maxLenApprox": "many"},
			{"maxLenApprox": "-5"},
			{"processingTimeout": "0"},
			{"redisType": "sentinel"},
			{"failover": "true"}, // without sentinelMasterName
			{"redisHost": "127.0.0.1:"},
			{"clientCert": "not a certificate"}, // without enableTLS
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}
