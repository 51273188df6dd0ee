package suggest

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"bindings.kafka", "bindings.aws.sqs", "bindings.redis", "queueName"}
	for _, tc := range []struct{ in, want string }{
		{"bindings.kafak", "bindings.kafka"},
		{"bindings.aws.sq", "bindings.aws.sqs"},
		{"queuename", "queueName"},
		{"QueueNmae", "queueName"},
		{"something.else.entirely", ""},
		{"", ""},
	} {
		if got := Closest(tc.in, known); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Closest("x", nil); got != "" {
		t.Errorf("no candidates: got %q", got)
	}
}
