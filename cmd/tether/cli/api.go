package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// controlAPI is where tether send and tether dlq reach a runtime's
// Dapr-compatible bindings API (a function's control API, or tether
// dev's), as their flags give it.
type controlAPI struct {
	addr    string // host:port, or a URL
	token   string // "": $DAPR_API_TOKEN, then $TETHER_API_TOKEN
	timeout time.Duration
	// notRunning says what to do when nothing listens on addr.
	notRunning string
}

// apiError is an answer of the bindings API other than 2xx.
type apiError struct {
	binding string
	status  string // "404 Not Found"
	code    int
	message string // the API's errorCode: message, else the body
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s answered %s: %s", e.binding, e.status, e.message)
}

// apiAnswer is a 2xx answer of the bindings API.
type apiAnswer struct {
	status string      // "200 OK"
	header http.Header // the binding's metadata as metadata.<key>
	data   []byte
}

// invoke posts body, an invocation ({"operation", "data", "metadata"}),
// to /v1.0/bindings/<binding> and returns the answer.
func (c controlAPI) invoke(ctx context.Context, binding string, body []byte) (apiAnswer, error) {
	return c.do(ctx, http.MethodPost, binding, "/v1.0/bindings/"+url.PathEscape(binding), body)
}

// url is the API's base URL.
func (c controlAPI) url() (*url.URL, error) {
	base := c.addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--addr %q: want host:port", c.addr)
	}
	return u, nil
}

// get GETs path on the API and decodes its JSON answer into v; a non-2xx
// answer is an *apiError (what names the binding or resource).
func (c controlAPI) get(ctx context.Context, what, path string, v any) error {
	answer, err := c.do(ctx, http.MethodGet, what, path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(answer.data, v); err != nil {
		return fmt.Errorf("the answer of %s: %w", what, err)
	}
	return nil
}

// do sends one request to the API with its token, and turns a refused
// connection into c.notRunning's hint and a non-2xx answer into an
// *apiError naming what (the binding or resource).
func (c controlAPI) do(ctx context.Context, method, what, path string, body []byte) (apiAnswer, error) {
	u, err := c.url()
	if err != nil {
		return apiAnswer{}, err
	}
	u.Path = path
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return apiAnswer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token := c.apiToken(); token != "" {
		req.Header.Set("dapr-api-token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return apiAnswer{}, fmt.Errorf("nothing listens on %s\n%s", u.Host, c.notRunning)
		}
		return apiAnswer{}, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiAnswer{}, fmt.Errorf("read the answer of %s: %w", what, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{binding: what, status: resp.Status, code: resp.StatusCode, message: strings.TrimSpace(string(answer))}
		var body struct {
			ErrorCode string `json:"errorCode"`
			Message   string `json:"message"`
		}
		if json.Unmarshal(answer, &body) == nil && body.Message != "" {
			e.message = body.ErrorCode + ": " + body.Message
		}
		return apiAnswer{}, e
	}
	return apiAnswer{status: resp.Status, header: resp.Header, data: answer}, nil
}

// apiToken is --token, else $DAPR_API_TOKEN, else $TETHER_API_TOKEN.
func (c controlAPI) apiToken() string {
	if c.token != "" {
		return c.token
	}
	if t := os.Getenv("DAPR_API_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("TETHER_API_TOKEN")
}
