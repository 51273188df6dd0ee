package sqs

import (
	"testing"
	"time"
)

func TestIsSQSText(t *testing.T) {
	for s, want := range map[string]bool{
		"":                           true,
		"plain ascii":                true,
		"\t\n\r":                     true,
		"é ✓ \ue000 \ufffd":          true,
		"🚀 U+1F680, \U0010ffff":      true, // SQS allows #x10000 to #x10FFFF
		"\x00":                       false,
		"\x1f":                       false,
		"\x7f is allowed":            true,
		"\xff":                       false, // not UTF-8
		"\xc3":                       false, // truncated sequence
		"\xef\xbf\xbe":               false, // U+FFFE
		"\xef\xbf\xbf":               false, // U+FFFF
		"\xed\xa0\x80":               false, // a surrogate, not valid UTF-8
		"\xf4\x90\x80\x80 (>10FFFF)": false,
	} {
		if got := isSQSText([]byte(s)); got != want {
			t.Errorf("isSQSText(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestSeconds(t *testing.T) {
	for _, c := range []struct {
		d     string
		limit int32
		want  int32
	}{
		{"0s", 900, 0}, {"-1s", 900, 0}, {"1ns", 900, 1}, {"1s", 900, 1}, {"1.001s", 900, 2}, {"1h", 900, 900},
	} {
		d, _ := time.ParseDuration(c.d)
		if got := seconds(d, c.limit); got != c.want {
			t.Errorf("seconds(%s, %d) = %d, want %d", c.d, c.limit, got, c.want)
		}
	}
}
