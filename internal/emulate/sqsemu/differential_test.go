package sqsemu_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/tetherfn/tether/internal/emulate/sqsemu"
)

var update = flag.Bool("update", false, "rewrite testdata/transcript.txt from sqsemu's run")

// TestScenario runs one sequence of SQS calls, through the AWS SDK, against
// sqsemu and compares what the SDK sees with testdata/transcript.txt. Where
// fauxqs is installed (TETHER_FAUXQS_DIR, see DEVELOPERS.md), the same
// sequence runs against it too and each line of the two transcripts is
// compared: the differential test.
func TestScenario(t *testing.T) {
	srv, err := sqsemu.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	got := scenario(t, srv.URL())
	golden := filepath.Join("testdata", "transcript.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "sqsemu", "transcript.txt", got, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), nil)
}

// knownDifferences are the steps where fauxqs 1.9.2 answers otherwise than
// sqsemu, with why sqsemu's answer is SQS's.
var knownDifferences = map[string]string{
	"create again, other attributes":                   "the SDK's model gives QueueNameExists the query code QueueAlreadyExists",
	"create with a bad name":                           "SQS takes alphanumerics, hyphens and underscores only",
	"create with an unknown attribute":                 "SQS refuses unknown attributes",
	"get an unknown attribute":                         "SQS refuses unknown attributes",
	"send with a bad attribute type":                   "SQS takes String, Number and Binary types only",
	"send with a bad number":                           "SQS refuses a Number that is not one",
	"send with too long a delay":                       "SQS takes DelaySeconds up to 900",
	"send with a deduplication id to a standard queue": "SQS refuses MessageDeduplicationId on standard queues",
	"delete a batch with one bad handle":               "SQS answers ReceiptHandleIsInvalid for a malformed handle",
	"delete with a bad handle":                         "SQS answers ReceiptHandleIsInvalid for a malformed handle",
	"create with a redrive policy to a missing queue":  "SQS checks that the dead-letter target exists",
	"receive from the dead-letter queue":               "SQS sets DeadLetterQueueSourceArn on a dead-lettered message",
	"change the visibility of a deleted message":       "fauxqs answers MessageNotInflight here but ReceiptHandleIsInvalid for the same call in a batch; LocalStack answers ReceiptHandleIsInvalid",
	"list dead-letter source queues":                   "fauxqs does not implement ListDeadLetterSourceQueues",
}

// unprefixed drops the AWS.SimpleQueueService. prefix from error codes:
// fauxqs puts it on codes (InvalidParameterValue, MissingParameter...)
// that the SDK's model and SQS give without it.
func unprefixed(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Replace(l, "error AWS.SimpleQueueService.", "error ", 1)
	}
	return out
}

func TestDifferentialFauxqs(t *testing.T) {
	dir := os.Getenv("TETHER_FAUXQS_DIR")
	if dir == "" {
		t.Skip("fauxqs is not installed: set TETHER_FAUXQS_DIR to a folder where `npm install fauxqs@1.9.2` ran (see DEVELOPERS.md)")
	}
	srv, err := sqsemu.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ours := scenario(t, srv.URL())
	theirs := scenario(t, startFauxqs(t, dir))
	compare(t, "sqsemu", "fauxqs", unprefixed(ours), unprefixed(theirs), knownDifferences)
}

// compare reports each line that differs between two transcripts, but
// for the steps in known.
func compare(t *testing.T, a, b string, x, y []string, known map[string]string) {
	t.Helper()
	for i := 0; i < max(len(x), len(y)); i++ {
		var lx, ly string
		if i < len(x) {
			lx = x[i]
		}
		if i < len(y) {
			ly = y[i]
		}
		if lx == ly {
			continue
		}
		step, _, _ := strings.Cut(lx, ":")
		if why, ok := known[step]; ok {
			t.Logf("known difference at %s (%s):\n  %s: %s\n  %s: %s", step, why, a, lx, b, ly)
			continue
		}
		t.Errorf("line %d differs:\n  %s: %s\n  %s: %s", i+1, a, lx, b, ly)
	}
}

// fauxqsServer is fauxqs started on a loopback port, as its buildApp
// allows; it stops when its standard input closes.
const fauxqsServer = `
import { buildApp } from "fauxqs";
const app = buildApp({ logger: false });
const address = await app.listen({ host: "127.0.0.1", port: 0 });
console.log("listening " + address);
process.stdin.on("close", async () => { await app.close(); process.exit(0); });
process.stdin.resume();
`

func startFauxqs(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("node", "--input-type=module", "-e", fauxqsServer)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fauxqs (is node installed?): %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if addr, ok := strings.CutPrefix(l, "listening "); ok {
			return addr
		}
		t.Fatalf("fauxqs did not start: %q\n%s", l, stderr.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("fauxqs did not start within 30s")
	}
	return ""
}

// run records what the SDK sees of each call, without what differs from
// run to run (ids, receipt handles, timestamps, hosts).
type run struct {
	t     *testing.T
	ctx   context.Context
	c     *sqs.Client
	lines []string
	ids   map[string]string // message id → a stable name, "m1"...
}

func (r *run) log(step, format string, args ...any) {
	r.lines = append(r.lines, step+": "+fmt.Sprintf(format, args...))
}

// result logs err's code, or ok and what show returns.
func (r *run) result(step string, err error, show func() string) {
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) {
			r.log(step, "error %s", api.ErrorCode())
		} else {
			r.log(step, "error %v", err)
		}
		return
	}
	r.log(step, "ok %s", show())
}

func (r *run) id(id *string) string {
	if id == nil {
		return "<nil>"
	}
	if n, ok := r.ids[*id]; ok {
		return n
	}
	n := fmt.Sprintf("m%d", len(r.ids)+1)
	r.ids[*id] = n
	return n
}

func (r *run) url(name string) string {
	out, err := r.c.GetQueueUrl(r.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		r.t.Fatalf("queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func (r *run) create(step, name string, attrs map[string]string) string {
	out, err := r.c.CreateQueue(r.ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	r.result(step, err, func() string { return "url ends /" + lastSegment(aws.ToString(out.QueueUrl)) })
	if err != nil {
		return ""
	}
	return aws.ToString(out.QueueUrl)
}

func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

func (r *run) attrs(step, url string, names ...string) {
	qn := make([]types.QueueAttributeName, len(names))
	for i, n := range names {
		qn[i] = types.QueueAttributeName(n)
	}
	out, err := r.c.GetQueueAttributes(r.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: qn})
	r.result(step, err, func() string {
		var parts []string
		for _, n := range names {
			parts = append(parts, n+"="+out.Attributes[n])
		}
		return strings.Join(parts, " ")
	})
}

// probe sends what should fail, logging only the outcome: what an
// emulator wrongly accepts then stays out of the rest of the transcript.
func (r *run) probe(step, url, body string, in *sqs.SendMessageInput) {
	if in == nil {
		in = &sqs.SendMessageInput{}
	}
	in.QueueUrl, in.MessageBody = aws.String(url), aws.String(body)
	_, err := r.c.SendMessage(r.ctx, in)
	r.result(step, err, func() string { return "" })
}

func (r *run) send(step, url, body string, in *sqs.SendMessageInput) {
	if in == nil {
		in = &sqs.SendMessageInput{}
	}
	in.QueueUrl, in.MessageBody = aws.String(url), aws.String(body)
	out, err := r.c.SendMessage(r.ctx, in)
	r.result(step, err, func() string {
		s := r.id(out.MessageId) + " md5 " + aws.ToString(out.MD5OfMessageBody)
		if out.MD5OfMessageAttributes != nil {
			s += " attrs-md5 " + aws.ToString(out.MD5OfMessageAttributes)
		}
		if out.SequenceNumber != nil {
			s += " seq"
		}
		return s
	})
}

// receive logs the messages a receive returns, and returns them.
func (r *run) receive(step, url string, max int32, attrs ...string) []types.Message {
	out, err := r.c.ReceiveMessage(r.ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: max, WaitTimeSeconds: 0,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		r.result(step, err, nil)
		return nil
	}
	var parts []string
	for _, m := range out.Messages {
		p := r.id(m.MessageId) + "=" + aws.ToString(m.Body)
		for _, a := range attrs {
			v := m.Attributes[a]
			if a == "DeadLetterQueueSourceArn" {
				v = v[strings.LastIndexByte(v, ':')+1:]
			}
			p += " " + a + "=" + v
		}
		if len(m.MessageAttributes) > 0 {
			names := make([]string, 0, len(m.MessageAttributes))
			for n, v := range m.MessageAttributes {
				names = append(names, n+":"+aws.ToString(v.DataType)+":"+aws.ToString(v.StringValue)+string(v.BinaryValue))
			}
			sort.Strings(names)
			p += " attrs[" + strings.Join(names, ",") + "] md5 " + aws.ToString(m.MD5OfMessageAttributes)
		}
		parts = append(parts, p)
	}
	r.log(step, "ok %d [%s]", len(out.Messages), strings.Join(parts, "; "))
	return out.Messages
}

func (r *run) visibility(step, url string, m types.Message, seconds int32) {
	_, err := r.c.ChangeMessageVisibility(r.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: seconds})
	r.result(step, err, func() string { return "" })
}

func (r *run) del(step, url string, handle *string) {
	_, err := r.c.DeleteMessage(r.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: handle})
	r.result(step, err, func() string { return "" })
}

func batchResult(failed []types.BatchResultErrorEntry, ok []string) string {
	var f []string
	for _, e := range failed {
		f = append(f, aws.ToString(e.Id)+":"+aws.ToString(e.Code)+fmt.Sprintf(":sender=%v", e.SenderFault))
	}
	slices.Sort(ok)
	slices.Sort(f)
	return fmt.Sprintf("successful %v failed %v", ok, f)
}

// scenario runs the calls against endpoint and returns the transcript.
func scenario(t *testing.T, endpoint string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := &run{t: t, ctx: ctx, ids: map[string]string{}, c: sqs.New(sqs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})}
	// Names unique to the run, the same length each time.
	p := fmt.Sprintf("d%x", time.Now().UnixNano())
	shown := func(s string) string { return strings.ReplaceAll(s, p, "P") }
	defer func() {
		for i := range r.lines {
			r.lines[i] = shown(r.lines[i])
		}
	}()

	// Queues and their attributes.
	std := r.create("create", p+"-m-std", nil)
	r.create("create again, same attributes", p+"-m-std", nil)
	r.create("create again, other attributes", p+"-m-std", map[string]string{"VisibilityTimeout": "5"})
	r.create("create a FIFO queue without .fifo", p+"-x-nofifo", map[string]string{"FifoQueue": "true"})
	r.create("create with a bad name", p+"-x bad", nil)
	r.create("create with an unknown attribute", p+"-x-unknown", map[string]string{"Colour": "blue"})
	r.create("create with a bad value", p+"-x-badvalue", map[string]string{"VisibilityTimeout": "-1"})
	probe := r.create("create a queue for probes", p+"-x-probe", nil)
	_, err := r.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(p + "-x-missing")})
	r.result("url of a missing queue", err, func() string { return "" })
	r.attrs("default attributes", std, "VisibilityTimeout", "DelaySeconds", "MessageRetentionPeriod",
		"ReceiveMessageWaitTimeSeconds", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
	_, err = r.c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(std), Attributes: map[string]string{"VisibilityTimeout": "45"}})
	r.result("set VisibilityTimeout", err, func() string { return "" })
	r.attrs("after set", std, "VisibilityTimeout")
	_, err = r.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(std), AttributeNames: []types.QueueAttributeName{"Colour"}})
	r.result("get an unknown attribute", err, func() string { return "" })

	// Standard queue messages.
	r.send("send with attributes", std, "hello", &sqs.SendMessageInput{MessageAttributes: map[string]types.MessageAttributeValue{
		"s": {DataType: aws.String("String"), StringValue: aws.String("text")},
		"n": {DataType: aws.String("Number"), StringValue: aws.String("42")},
		"b": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}},
	}})
	r.probe("send with a bad character", probe, "bell\x07", nil)
	r.probe("send with a bad attribute type", probe, "x", &sqs.SendMessageInput{MessageAttributes: map[string]types.MessageAttributeValue{
		"s": {DataType: aws.String("Text"), StringValue: aws.String("text")}}})
	r.probe("send with a bad number", probe, "x", &sqs.SendMessageInput{MessageAttributes: map[string]types.MessageAttributeValue{
		"n": {DataType: aws.String("Number"), StringValue: aws.String("many")}}})
	r.probe("send with too long a delay", probe, "x", &sqs.SendMessageInput{DelaySeconds: 901})
	r.probe("send with a deduplication id to a standard queue", probe, "x", &sqs.SendMessageInput{MessageDeduplicationId: aws.String("d")})
	bout, err := r.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(std), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("batch a")},
		{Id: aws.String("b"), MessageBody: aws.String("batch \x01 b")},
		{Id: aws.String("c"), MessageBody: aws.String("batch c")},
	}})
	r.result("send a batch with one bad entry", err, func() string {
		var ok []string
		for _, e := range bout.Successful {
			ok = append(ok, aws.ToString(e.Id)+"="+aws.ToString(e.MD5OfMessageBody))
		}
		return batchResult(bout.Failed, ok)
	})
	r.attrs("depth after sends", std, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
	_, err = r.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(std), Entries: []types.SendMessageBatchRequestEntry{}})
	r.result("send an empty batch", err, func() string { return "" })
	var eleven []types.SendMessageBatchRequestEntry
	for i := range 11 {
		eleven = append(eleven, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", i)), MessageBody: aws.String("x")})
	}
	_, err = r.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(std), Entries: eleven})
	r.result("send 11 in a batch", err, func() string { return "" })
	_, err = r.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(std), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("same"), MessageBody: aws.String("x")}, {Id: aws.String("same"), MessageBody: aws.String("y")}}})
	r.result("send a batch with repeated ids", err, func() string { return "" })
	_, err = r.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(std), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("not ok!"), MessageBody: aws.String("x")}}})
	r.result("send a batch with a bad id", err, func() string { return "" })

	// Receive one at a time, so that the order of a standard queue (which
	// SQS does not promise) does not matter.
	var got []types.Message
	for i := range 3 {
		got = append(got, r.receive(fmt.Sprint("receive ", i+1), std, 1, "ApproximateReceiveCount")...)
	}
	r.receive("receive with all in flight", std, 10)
	r.attrs("depth with all in flight", std, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
	if len(got) == 3 {
		r.visibility("make one visible again", std, got[0], 0)
		again := r.receive("receive it again", std, 10, "ApproximateReceiveCount")
		r.del("delete with the old receipt handle", std, got[0].ReceiptHandle)
		if len(again) == 1 {
			r.del("delete with the new receipt handle", std, again[0].ReceiptHandle)
			r.del("delete it twice", std, again[0].ReceiptHandle)
		}
		r.visibility("change the visibility of a deleted message", std, again[0], 10)
		dout, err := r.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(std), Entries: []types.DeleteMessageBatchRequestEntry{
			{Id: aws.String("good"), ReceiptHandle: got[1].ReceiptHandle},
			{Id: aws.String("bad"), ReceiptHandle: aws.String("not-a-receipt-handle")},
		}})
		r.result("delete a batch with one bad handle", err, func() string {
			var ok []string
			for _, e := range dout.Successful {
				ok = append(ok, aws.ToString(e.Id))
			}
			return batchResult(dout.Failed, ok)
		})
		cout, err := r.c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(std), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("inflight"), ReceiptHandle: got[2].ReceiptHandle, VisibilityTimeout: 0},
			{Id: aws.String("deleted"), ReceiptHandle: got[1].ReceiptHandle, VisibilityTimeout: 0},
		}})
		r.result("change visibility in a batch", err, func() string {
			var ok []string
			for _, e := range cout.Successful {
				ok = append(ok, aws.ToString(e.Id))
			}
			return batchResult(cout.Failed, ok)
		})
		r.receive("receive what was made visible", std, 10, "ApproximateReceiveCount")
	}
	r.del("delete with a bad handle", std, aws.String("not-a-receipt-handle"))
	_, err = r.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(std), MaxNumberOfMessages: 11})
	r.result("receive 11", err, func() string { return "" })
	_, err = r.c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(std)})
	r.result("purge", err, func() string { return "" })
	r.attrs("depth after purge", std, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")

	// FIFO queues.
	fifo := r.create("create a FIFO queue", p+"-m-q.fifo", map[string]string{"FifoQueue": "true"})
	r.attrs("FIFO attributes", fifo, "FifoQueue", "ContentBasedDeduplication")
	r.probe("send without a group", fifo, "x", &sqs.SendMessageInput{MessageDeduplicationId: aws.String("x")})
	r.probe("send without a deduplication id", fifo, "x", &sqs.SendMessageInput{MessageGroupId: aws.String("A")})
	r.probe("send with a delay", fifo, "x", &sqs.SendMessageInput{MessageGroupId: aws.String("A"), MessageDeduplicationId: aws.String("x"), DelaySeconds: 5})
	r.send("send a1", fifo, "a1", &sqs.SendMessageInput{MessageGroupId: aws.String("A"), MessageDeduplicationId: aws.String("a1")})
	r.send("send a2", fifo, "a2", &sqs.SendMessageInput{MessageGroupId: aws.String("A"), MessageDeduplicationId: aws.String("a2")})
	r.send("send b1", fifo, "b1", &sqs.SendMessageInput{MessageGroupId: aws.String("B"), MessageDeduplicationId: aws.String("b1")})
	r.send("send a1 again (deduplicated)", fifo, "a1 again", &sqs.SendMessageInput{MessageGroupId: aws.String("A"), MessageDeduplicationId: aws.String("a1")})
	r.attrs("FIFO depth", fifo, "ApproximateNumberOfMessages")
	first := r.receive("receive the first", fifo, 1, "MessageGroupId", "MessageDeduplicationId", "ApproximateReceiveCount")
	r.receive("receive the next: group A is locked", fifo, 1, "MessageGroupId")
	second := r.receive("receive again: both groups locked", fifo, 1)
	if len(first) == 1 {
		r.del("delete a1", fifo, first[0].ReceiptHandle)
	}
	third := r.receive("receive a2 once a1 is gone", fifo, 1, "MessageGroupId")
	if len(third) == 1 {
		r.visibility("give a2 back", fifo, third[0], 0)
	}
	r.receive("receive a2 again", fifo, 1, "ApproximateReceiveCount")
	_ = second
	cbd := r.create("create a content-deduplicated FIFO queue", p+"-m-cbd.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	r.send("send by content", cbd, "same", &sqs.SendMessageInput{MessageGroupId: aws.String("G")})
	r.send("send the same content", cbd, "same", &sqs.SendMessageInput{MessageGroupId: aws.String("G")})
	r.attrs("content-deduplicated depth", cbd, "ApproximateNumberOfMessages")

	// Redrive.
	dlq := r.create("create a dead-letter queue", p+"-m-dlq", nil)
	arn := ""
	if out, err := r.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq), AttributeNames: []types.QueueAttributeName{"QueueArn"}}); err == nil {
		arn = out.Attributes["QueueArn"]
	}
	r.log("dead-letter queue ARN", "ends :%s", lastSegment(strings.ReplaceAll(arn, ":", "/")))
	r.create("create with a redrive policy to a missing queue", p+"-x-src0", map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"` + strings.TrimSuffix(arn, "-dlq") + `-nothere","maxReceiveCount":"1"}`})
	src := r.create("create with a redrive policy", p+"-m-src", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arn + `","maxReceiveCount":"2"}`})
	r.send("send to be dead-lettered", src, "poison", nil)
	for i := range 2 {
		if m := r.receive(fmt.Sprint("receive poison ", i+1), src, 1, "ApproximateReceiveCount"); len(m) == 1 {
			r.visibility(fmt.Sprint("give poison back ", i+1), src, m[0], 0)
		}
	}
	r.receive("receive poison past maxReceiveCount", src, 1)
	r.receive("receive from the dead-letter queue", dlq, 1, "DeadLetterQueueSourceArn")
	lout, err := r.c.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(dlq)})
	r.result("list dead-letter source queues", err, func() string {
		var names []string
		for _, u := range lout.QueueUrls {
			names = append(names, lastSegment(u))
		}
		return strings.Join(names, " ")
	})

	// Listing and deleting.
	lq, err := r.c.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(p + "-m-")})
	r.result("list queues", err, func() string {
		var names []string
		for _, u := range lq.QueueUrls {
			names = append(names, lastSegment(u))
		}
		sort.Strings(names)
		return strings.Join(names, " ")
	})
	_, err = r.c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(std)})
	r.result("delete a queue", err, func() string { return "" })
	r.send("send to a deleted queue", std, "x", nil)
	_, err = r.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(p + "-m-std")})
	r.result("url of a deleted queue", err, func() string { return "" })
	var missing *types.QueueDoesNotExist
	_, err = r.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(std)})
	r.log("receive from a deleted queue", "typed QueueDoesNotExist %v", errors.As(err, &missing))
	_ = r.url
	return r.lines
}
