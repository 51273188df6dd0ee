package bodyread_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tetherfn/tether/internal/bodyread"
)

func TestReadAll(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name  string
		size  int
		limit int64
	}{
		{"known length", len(body) + 1, int64(len(body)) + 1},
		{"unknown length, grows", 16, 1 << 20},
		{"bounded at the body's size", 16, int64(len(body)) + 1},
	} {
		got, err := bodyread.ReadAll(iotest.HalfReader(strings.NewReader(body)), tc.size, tc.limit)
		if err != nil || string(got) != body {
			t.Errorf("%s: %d bytes, %v", tc.name, len(got), err)
		}
	}
	// A known length is read into one buffer, never grown.
	if got, _ := bodyread.ReadAll(iotest.HalfReader(strings.NewReader(body)), len(body)+1, int64(len(body))+1); cap(got) != len(body)+1 {
		t.Errorf("known length: capacity %d, want %d", cap(got), len(body)+1)
	}
	boom := errors.New("boom")
	got, err := bodyread.ReadAll(errReader{bytes.NewReader([]byte("ab")), boom}, 4, 5)
	if !errors.Is(err, boom) || string(got) != "ab" {
		t.Errorf("a read error: %q, %v; want ab, boom", got, err)
	}
}

// errReader returns err once r is drained.
type errReader struct {
	r   *bytes.Reader
	err error
}

func (e errReader) Read(p []byte) (int, error) {
	n, _ := e.r.Read(p)
	if e.r.Len() == 0 {
		return n, e.err
	}
	return n, nil
}
