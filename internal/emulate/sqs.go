package emulate

import (
	"context"
	"errors"
)

func startSQS(Options) (server, error) {
	return nil, errors.New("not written yet")
}

var _ = context.Background
