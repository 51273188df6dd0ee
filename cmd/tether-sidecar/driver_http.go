//go:build !tether_drivers || tether_http

package main

import _ "github.com/tetherfn/tether/bindings/http"
