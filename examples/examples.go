// Package examples holds the example studies shipped with testimony.
package examples

import _ "embed"

// NKInternetAccess is examples/nk-internet-access.yaml: a study of mobile
// phone, intranet and internet use in North Korea.
//
//go:embed nk-internet-access.yaml
var NKInternetAccess []byte
