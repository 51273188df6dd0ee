package image_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tetherfn/tether/internal/image"
)

// hello is the example every test builds: its go build is cached after
// the first.
const hello = "../../examples/hello"

// TestBadOptions: mistakes are errors that say what to do, before any build.
func TestBadOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		opts image.Options
		want string
	}{
		{image.Options{Dir: hello, Functions: []string{"nope"}}, `function "nope": ../../examples/hello has greet`},
		{image.Options{Dir: hello, Tarball: "x.tar", Platforms: []string{"linux/amd64", "linux/arm64"}}, "a tarball holds one platform"},
		{image.Options{Dir: hello, Platforms: []string{"windows/amd64"}}, "linux only"},
		{image.Options{Dir: hello, Platforms: []string{"amd64"}}, "want os/arch"},
		{image.Options{Dir: "no-such-folder"}, "not a folder"},
		{image.Options{Dir: "."}, "has no //tether:function"},
	} {
		_, err := image.Build(ctx, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := image.Build(ctx, image.Options{Dir: hello}); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad SOURCE_DATE_EPOCH: %v", err)
	}
}
