package sqs_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/internal/emulate/sqsemu"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

// The tests run against sqsemu, the SQS emulator of tether dev, started
// once per test binary on a free loopback port, or against the
// SQS-compatible endpoint in TETHER_TEST_SQS_ENDPOINT (LocalStack,
// fauxqs, real SQS...).

func TestMain(m *testing.M) { faulttest.Main(m) }

const region = "us-east-1"

var emulator struct {
	once     sync.Once
	endpoint string
	err      error
}

// endpoint returns the SQS endpoint the tests use, starting sqsemu on
// first use; it runs until the test binary exits.
func endpoint(t testing.TB) string {
	t.Helper()
	if e := os.Getenv("TETHER_TEST_SQS_ENDPOINT"); e != "" {
		return e
	}
	emulator.once.Do(func() {
		var srv *sqsemu.Server
		srv, emulator.err = sqsemu.Start("127.0.0.1:0", &sqsemu.Options{Region: region})
		if emulator.err == nil {
			emulator.endpoint = srv.URL()
		}
	})
	if emulator.err != nil {
		t.Fatal(emulator.err)
	}
	return emulator.endpoint
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
