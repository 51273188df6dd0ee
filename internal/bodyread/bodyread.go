// Package bodyread reads a request body whose size is known or bounded
// without io.ReadAll's growth, for the runtime's bindings API and the HTTP
// binding's webhooks:
//
//	body, err := bodyread.ReadAll(r.Body, int(r.ContentLength)+1, r.ContentLength+1)
package bodyread

import (
	"io"
	"slices"
)

// ReadAll is io.ReadAll into a buffer of the expected size: a body whose
// Content-Length is known is read without growing (io.ReadAll and
// bytes.Buffer would double it at the end). limit is the body's bound (+1 to
// see it passed): growing never goes past it, so a body at the limit costs
// the limit, not twice it.
func ReadAll(r io.Reader, size int, limit int64) ([]byte, error) {
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(int64(cap(b)), max(limit-int64(cap(b)), 1))))
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
